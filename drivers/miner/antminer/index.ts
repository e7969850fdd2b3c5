/** Stock Bitmain Antminer firmware: the driver, discover's identify(), and the pure codecs its tests pin. */
export { AntminerMiner, createAntminer, identify, type AntminerTuning, type MinerEvidence, type MinerIdentity } from './driver';
export { WorkMode } from './conf';
