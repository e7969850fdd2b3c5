/**
 * A meter model's register map, as data: adding a model is one file in this folder plus one
 * line in maps/index.ts. Points name where the sample's values live; the driver reads each
 * group (fast: hz + kw, slow: energy counters) as ONE block covering its points.
 */
export type PointType = 'f32' | 'i16' | 'u16' | 'u32' | 'acc32';

export interface Point {
  /** register address (0-based protocol address; for SunSpec, offset from the model body) */
  addr: number;
  type: PointType;
  /** multiply by this to get the sample's unit (W -> kW: 0.001) */
  scale?: number;
  /** SunSpec: address of the int16 scale factor register; value = raw * 10^sf */
  sf?: number;
}

export interface MeterMap {
  /** the `model` config value */
  id: string;
  /** 3 = holding registers, 4 = input registers */
  fn: 3 | 4;
  /** SunSpec model id to find by discovery; addresses are then offsets from the body's start */
  sunspec?: number;
  fast: { hz: Point; kw: Point };
  slow: { importKwh?: Point; exportKwh?: Point };
}

export interface Block {
  addr: number;
  count: number;
}

const words = (t: PointType): number => (t === 'f32' || t === 'u32' || t === 'acc32' ? 2 : 1);

/** the smallest block covering every point (and scale factor) of a group, shifted by `base` */
export function blockOf(points: Point[], base = 0): Block {
  let lo = Infinity;
  let hi = -Infinity;
  for (const p of points) {
    lo = Math.min(lo, p.addr);
    hi = Math.max(hi, p.addr + words(p.type) - 1);
    if (p.sf !== undefined) {
      lo = Math.min(lo, p.sf);
      hi = Math.max(hi, p.sf);
    }
  }
  return { addr: base + lo, count: hi - lo + 1 };
}

/**
 * Decode one point out of a block's raw bytes (big-endian registers, high word first).
 * SunSpec "not implemented" markers (int16 0x8000, uint16 0xFFFF, acc32 0, float NaN) and a
 * scale factor outside -10..10 give NaN, which the driver treats as a bad reading.
 */
export function decodePoint(raw: Buffer, block: Block, p: Point, base = 0): number {
  const off = (base + p.addr - block.addr) * 2;
  let v: number;
  switch (p.type) {
    case 'f32': v = raw.readFloatBE(off); break;
    case 'i16': v = raw.readInt16BE(off); if (v === -0x8000) v = NaN; break;
    case 'u16': v = raw.readUInt16BE(off); if (v === 0xffff) v = NaN; break;
    case 'u32': v = raw.readUInt32BE(off); if (v === 0xffffffff) v = NaN; break;
    case 'acc32': v = raw.readUInt32BE(off); break;
  }
  if (p.sf !== undefined) {
    const sf = raw.readInt16BE((base + p.sf - block.addr) * 2);
    v = sf < -10 || sf > 10 ? NaN : v * 10 ** sf;
  }
  return v * (p.scale ?? 1);
}
