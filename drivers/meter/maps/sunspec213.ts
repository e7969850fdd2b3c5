import type { MeterMap } from './types';

/**
 * SunSpec model 213, three-phase wye meter with float32 values (SunSpec Information Model
 * Reference; L = 124). Offsets are from the first body register (after ID and L):
 *   24 Hz, 26 W (total real power, + = import), 58 TotWhExp (Wh), 66 TotWhImp (Wh).
 * With the map at 40000 and model 1 first, these are 40096, 40098, 40130, 40138 (DESIGN §5).
 */
export const sunspec213: MeterMap = {
  id: 'sunspec213',
  fn: 3,
  sunspec: 213,
  fast: {
    hz: { addr: 24, type: 'f32' },
    kw: { addr: 26, type: 'f32', scale: 0.001 },
  },
  slow: {
    exportKwh: { addr: 58, type: 'f32', scale: 0.001 },
    importKwh: { addr: 66, type: 'f32', scale: 0.001 },
  },
};
