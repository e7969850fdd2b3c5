/** Antminers on VNish (AnthillOS) firmware, over its REST API: DESIGN.md §7. */
export { createVnish, identify, VnishMiner, VNISH_DEFAULT_PASSWORD, VNISH_PORTS, VNISH_STANDBY_KW, VNISH_TUNING, type MinerEvidence, type MinerIdentity, type VnishTuning } from './driver';
export { PresetSettings, presetAt, scaleOf, usablePresets, type PresetScale } from './presets';
export type { Preset } from './reply';
