/** Braiins OS+ (aftermarket firmware on Antminer hardware), over its gRPC API: the driver and discover's identify(). */
export { BraiinsMiner, BRAIINS_PORTS, BRAIINS_TUNING, createBraiins, identify, type BraiinsTuning, type MinerEvidence, type MinerIdentity } from './driver';
