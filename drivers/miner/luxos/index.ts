/** LuxOS (Luxor's firmware on Antminer hardware): the driver, discover's identify(), and the pure codecs its tests pin. */
export { createLuxos, identify, LuxosMiner, LUXOS_PORTS, LUXOS_TUNING, type LuxosDetails, type LuxosTuning, type MinerEvidence, type MinerIdentity } from './driver';
export { isLuxosReply } from './identify';
