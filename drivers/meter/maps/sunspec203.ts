import type { MeterMap } from './types';

/**
 * SunSpec model 203, three-phase wye meter with integers and scale factors (SunSpec
 * Information Model Reference; L = 105). Offsets from the first body register:
 *   14 Hz (int16) 15 Hz_SF, 16 W (int16) 20 W_SF, 36 TotWhExp (acc32) 44 TotWhImp (acc32) 52 TotWh_SF.
 * Fast block 14..20 (7 registers), slow block 36..52 (17 registers).
 */
export const sunspec203: MeterMap = {
  id: 'sunspec203',
  fn: 3,
  sunspec: 203,
  fast: {
    hz: { addr: 14, type: 'i16', sf: 15 },
    kw: { addr: 16, type: 'i16', sf: 20, scale: 0.001 },
  },
  slow: {
    exportKwh: { addr: 36, type: 'acc32', sf: 52, scale: 0.001 },
    importKwh: { addr: 44, type: 'acc32', sf: 52, scale: 0.001 },
  },
};
