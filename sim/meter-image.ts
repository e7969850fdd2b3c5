import type { Plant } from './plant';
import { f32 } from './meter-frames';

/**
 * Register images the simulated meter serves, computed from the plant's values as last measured
 * (see MeasurementCycle).
 * Layouts are DESIGN.md §5, from the Eastron SDM630 Modbus protocol v1.5 (input registers
 * 30001.., float32 big-endian, high word first) and SunSpec Information Model Reference
 * (common model 1, L=66; meter models 213 float, L=124, and 203 integer + scale factors, L=105).
 */
export type SimMeterModel = 'sdm630' | 'sunspec' | 'sunspec203';

export interface Reading {
  hz: number;
  w: number;
  importKwh: number;
  exportKwh: number;
  /** request counter, for the integer model's 1-LSB measurement noise */
  tick?: number;
}

/** How often the simulated meter takes a new measurement by default (Hz): every 200 ms. */
export const DEFAULT_REFRESH_HZ = 5;

/**
 * Live values from the plant, with measurement noise of a few LSBs keyed to the measurement's
 * number `n`: a real meter's floats never repeat exactly from one measurement to the next, which
 * is what lets the driver tell a frozen meter from a steady grid.
 */
export function liveReading(p: Plant, n: number): Reading {
  return {
    hz: p.hz + ((n % 5) - 2) * 0.0002,
    w: p.gridKw() * 1000 + ((n % 7) - 3) * 0.3,
    importKwh: p.importKwh,
    exportKwh: p.exportKwh,
    tick: n,
  };
}

/**
 * A meter's measurement cycle. A real meter measures over a window and updates its registers
 * once per cycle (5 Hz here by default; many meters once a second or slower), so every read
 * inside one cycle returns the same values. `reading()` takes a new measurement when the clock
 * has entered a new cycle (cycles on a fixed grid of 1000 / refreshHz ms) and otherwise returns
 * the one it holds. `refreshHz` may be changed at any time; 0 takes a new measurement on every
 * read (the sim before measurement cycles, for benches that want every poll fresh).
 * `now` is a monotonic ms clock (performance.now by default; a VirtualClock's monotonic in
 * virtual-time suites).
 */
export class MeasurementCycle {
  private cycle = -Infinity;
  private held?: Reading;
  private n = 0;

  constructor(
    private readonly measure: (n: number) => Reading,
    public refreshHz: number = DEFAULT_REFRESH_HZ,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(refreshHz >= 0) || !Number.isFinite(refreshHz)) throw new RangeError(`refreshHz: expected a finite number >= 0, got ${refreshHz}`);
  }

  reading(): Reading {
    const hz = this.refreshHz;
    const k = hz > 0 ? Math.floor((this.now() * hz) / 1000) : NaN; // NaN: never the same cycle
    if (k !== this.cycle || !this.held) {
      this.cycle = k;
      this.held = this.measure(++this.n);
    }
    return this.held;
  }
}

/** Nominal phase voltage: the SDM630 is a 230/400 V three-phase meter. */
const PHASE_V = 230;

export interface Image {
  fn: 3 | 4;
  regs: Map<number, number>;
}

export function imageFor(model: SimMeterModel, r: Reading): Image {
  if (model === 'sdm630') return sdm630(r);
  return sunspec(model === 'sunspec' ? 213 : 203, r);
}

function put(m: Map<number, number>, addr: number, words: number[]): void {
  words.forEach((w, i) => m.set(addr + i, w & 0xffff));
}

function sdm630(r: Reading): Image {
  const m = new Map<number, number>();
  const pw = r.w / 3;
  const amps = Math.abs(pw) / PHASE_V;
  for (let p = 0; p < 3; p++) {
    put(m, 0x00 + 2 * p, f32(PHASE_V + 0.1 * p));
    put(m, 0x06 + 2 * p, f32(amps));
    put(m, 0x0c + 2 * p, f32(pw));
  }
  put(m, 0x34, f32(r.w));
  put(m, 0x38, f32(Math.abs(r.w))); // total VA at unity power factor
  put(m, 0x3c, f32(0)); // total VAr
  put(m, 0x3e, f32(1)); // total PF
  put(m, 0x46, f32(r.hz));
  put(m, 0x48, f32(r.importKwh));
  put(m, 0x4a, f32(r.exportKwh));
  return { fn: 4, regs: m };
}

/** SunSpec base address (40001 in 1-based register numbers) */
export const SUNS_BASE = 40000;

function sunspec(model: 213 | 203, r: Reading): Image {
  const m = new Map<number, number>();
  put(m, SUNS_BASE, [0x5375, 0x6e53]); // "SunS"
  put(m, SUNS_BASE + 2, [1, 66]);
  const common = Buffer.alloc(132);
  common.write('hashflex-sim', 0, 'ascii'); // Mn
  common.write('SunSpec meter', 32, 'ascii'); // Md
  common.write('0.1', 80, 'ascii'); // Vr
  common.write('SIM0001', 96, 'ascii'); // SN
  const body: number[] = [];
  for (let i = 0; i < 66; i++) body.push(common.readUInt16BE(i * 2));
  body[65] = 1; // DA (device address)
  put(m, SUNS_BASE + 4, body);
  const at = SUNS_BASE + 70;
  const len = model === 213 ? 124 : 105;
  put(m, at, [model, len]);
  const b = at + 2;
  put(m, b, new Array(len).fill(0));
  const pw = r.w / 3;
  const amps = Math.abs(pw) / PHASE_V;
  if (model === 213) {
    put(m, b + 0, f32(amps * 3));
    for (let p = 0; p < 3; p++) put(m, b + 2 + 2 * p, f32(amps));
    put(m, b + 8, f32(PHASE_V));
    for (let p = 0; p < 3; p++) put(m, b + 10 + 2 * p, f32(PHASE_V));
    put(m, b + 24, f32(r.hz));
    put(m, b + 26, f32(r.w));
    for (let p = 0; p < 3; p++) put(m, b + 28 + 2 * p, f32(pw));
    put(m, b + 58, f32(r.exportKwh * 1000)); // TotWhExp (Wh)
    put(m, b + 66, f32(r.importKwh * 1000)); // TotWhImp (Wh)
  } else {
    // integers with scale factors: A_SF -2, V_SF -1, Hz_SF -2, W_SF -1, TotWh_SF 0
    put(m, b + 0, [Math.round(amps * 300)]);
    for (let p = 0; p < 3; p++) put(m, b + 1 + p, [Math.round(amps * 100)]);
    put(m, b + 4, [-2]);
    put(m, b + 5, [PHASE_V * 10, PHASE_V * 10, PHASE_V * 10, PHASE_V * 10]);
    put(m, b + 13, [-1]);
    put(m, b + 14, [Math.round(r.hz * 100), -2]);
    // the smallest W_SF that keeps total W inside int16, as integer meters pick their range
    let wsf = -1;
    while (Math.abs(r.w) / 10 ** wsf > 32000 && wsf < 4) wsf++;
    const lsb = ((r.tick ?? 0) % 3) - 1;
    put(m, b + 16, [Math.round(r.w / 10 ** wsf) + lsb]);
    for (let p = 0; p < 3; p++) put(m, b + 17 + p, [Math.round(pw / 10 ** wsf)]);
    put(m, b + 20, [wsf]);
    put(m, b + 36, u32(Math.round(r.exportKwh * 1000)));
    put(m, b + 44, u32(Math.round(r.importKwh * 1000)));
    put(m, b + 52, [0]);
  }
  put(m, b + len, [0xffff, 0]); // end marker
  return { fn: 3, regs: m };
}

function u32(v: number): [number, number] {
  const x = Math.max(0, v) >>> 0;
  return [x >>> 16, x & 0xffff];
}

/**
 * Registers [addr, addr+count) or undefined (exception 02) when the first or last register is
 * not in the map. Reserved registers inside a mapped block read as 0, so one block read can
 * span total W .. Hz as on the real SDM630 (its map has gaps at 0x36, 0x3A, 0x40, 0x44).
 */
export function readImage(img: Image, addr: number, count: number): number[] | undefined {
  if (count < 1 || count > 125) return undefined; // MODBUS spec: 1..125 registers per read
  if (!img.regs.has(addr) || !img.regs.has(addr + count - 1)) return undefined;
  const out: number[] = [];
  for (let a = addr; a < addr + count; a++) out.push(img.regs.get(a) ?? 0);
  return out;
}
