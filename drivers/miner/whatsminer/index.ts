/** MicroBT Whatsminer (stock firmware, API v2 on 4028 and v3 on 4433): DESIGN.md §7. */
export { createWhatsminer, WhatsminerMiner, WHATSMINER_PORTS, WHATSMINER_TUNING, type WhatsminerTuning } from './driver';
export { apiForFirmware, identify, type MinerEvidence, type MinerIdentity } from './identify';
