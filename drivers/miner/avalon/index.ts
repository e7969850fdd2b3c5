/** Canaan Avalon (A12–A15, Nano / Q / Mini): the driver and discover's identify(). */
export { AvalonMiner, createAvalon, identify, type AvalonTuning, type MinerEvidence, type MinerIdentity } from './driver';
