import type { MeterMap } from './types';

/**
 * Eastron SDM630 (v2, Modbus protocol document v1.5): input registers (function 04), float32
 * big-endian, high word first; address = register number - 30001.
 *   30053 (0x0034) total system power W, + = import    30071 (0x0046) frequency Hz
 *   30073 (0x0048) total import kWh                    30075 (0x004A) total export kWh
 * Hz and W are read as one 20-register block 0x0034..0x0047.
 */
export const sdm630: MeterMap = {
  id: 'sdm630',
  fn: 4,
  fast: {
    hz: { addr: 0x0046, type: 'f32' },
    kw: { addr: 0x0034, type: 'f32', scale: 0.001 },
  },
  slow: {
    importKwh: { addr: 0x0048, type: 'f32' },
    exportKwh: { addr: 0x004a, type: 'f32' },
  },
};
