/**
 * BM13xx chip models as data, so no code switches on the model (what STYLE.md asks us not to
 * copy from ESP-Miner's `switch (model)`). Sources, bitaxeorg/ESP-Miner:
 *  - chip ids, PLL feedback-divider ranges: components/asic/bm1366.c / bm1368.c / bm1370.c
 *    (`pll_get_parameters(target, 144, 235, ...)` for 1366/1368, `160, 239` for 1370)
 *  - default frequency, frequency options, small-core counts: main/device_config.h
 *    (ASIC_BM1366 485 MHz 894 small cores; ASIC_BM1368 490 MHz 1276; ASIC_BM1370 525 MHz 2040)
 *  - minimum frequency: bm1366.c `BM1366_MIN_FREQUENCY_MHZ 50.0f`
 *  - nominal watts: device_config.h `power_consumption_target` of the single-chip boards
 *    (Ultra/BM1366 12 W, Supra/BM1368 12 W, Gamma/BM1370 19 W), which include the board's own
 *    regulator losses; good enough for splitting a kW target, and the meter closes the loop.
 */
export type ChipModel = 'bm1366' | 'bm1368' | 'bm1370';

export interface ModelSpec {
  model: ChipModel;
  /** value of register 0x00 high half, returned to "read chip id": AA 55 13 66 ... */
  chipId: number;
  /** PLL feedback divider range the firmware allows (register 0x08 byte 1) */
  fbDivMin: number;
  fbDivMax: number;
  /** lowest frequency the firmware accepts; also the trip/park setting */
  minMhz: number;
  /** stock operating point: the default upper bound for throttling */
  defaultMhz: number;
  /** highest frequency the firmware offers in its options list */
  maxOptionMhz: number;
  /** hashes per clock per chip = small cores; GH/s = MHz * smallCores / 1000 */
  smallCores: number;
  /** nominal watts per chip at defaultMhz */
  wattsAtDefault: number;
}

export const MODELS: Record<ChipModel, ModelSpec> = {
  bm1366: { model: 'bm1366', chipId: 0x1366, fbDivMin: 144, fbDivMax: 235, minMhz: 50, defaultMhz: 485, maxOptionMhz: 575, smallCores: 894, wattsAtDefault: 12 },
  bm1368: { model: 'bm1368', chipId: 0x1368, fbDivMin: 144, fbDivMax: 235, minMhz: 50, defaultMhz: 490, maxOptionMhz: 575, smallCores: 1276, wattsAtDefault: 12 },
  bm1370: { model: 'bm1370', chipId: 0x1370, fbDivMin: 160, fbDivMax: 239, minMhz: 50, defaultMhz: 525, maxOptionMhz: 625, smallCores: 2040, wattsAtDefault: 19 },
};

export function isChipModel(m: unknown): m is ChipModel {
  return typeof m === 'string' && m in MODELS;
}

/**
 * Share of a chip's power that does not scale with clock (leakage, I/O) at fixed core voltage;
 * the rest is dynamic power, linear in frequency (P = C·V²·f). 15 % is an estimate for 5 nm-class
 * silicon at ~1.2 V; the sim uses its own slightly different curve so the estimate is an estimate.
 */
export const STATIC_SHARE = 0.15;

/** Estimated watts per chip at `mhz` (0 when not clocked). */
export function wattsPerChip(spec: ModelSpec, mhz: number): number {
  if (!(mhz > 0)) return 0;
  return spec.wattsAtDefault * (STATIC_SHARE + (1 - STATIC_SHARE) * (mhz / spec.defaultMhz));
}

/** Nominal hash rate of one chip at `mhz`, GH/s. */
export function ghsPerChip(spec: ModelSpec, mhz: number): number {
  return mhz > 0 ? (mhz * spec.smallCores) / 1000 : 0;
}
