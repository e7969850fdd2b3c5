/**
 * Time series of a scenario file: points per channel, linear between them, held before the first
 * and after the last. Two points at the same time make a step (the later one wins from then on).
 */
export type Points = [number, number][];

export function interpolate(p: Points, t: number, fallback: number): number {
  if (!p.length) return fallback;
  // last point at or before t (binary search: 24-hour files may have tens of thousands of rows)
  let lo = 0, hi = p.length - 1, i = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (p[mid][0] <= t) { i = mid; lo = mid + 1; } else hi = mid - 1;
  }
  if (i < 0) return p[0][1];
  if (i === p.length - 1) return p[i][1];
  const [t0, v0] = p[i];
  const [t1, v1] = p[i + 1];
  return v0 + ((v1 - v0) * (t - t0)) / (t1 - t0);
}

/** the value of the last point at or before t (the first one before it): for switches like the relay */
export function hold(p: Points, t: number, fallback: number): number {
  if (!p.length) return fallback;
  let v = p[0][1];
  for (const [ti, vi] of p) {
    if (ti > t) break;
    v = vi;
  }
  return v;
}

/** 32-bit integer hash (a mulberry32 step): the same (k, seed) always gives the same value */
function hash(k: number, seed: number): number {
  let x = (Math.imul(k | 0, 0x9e3779b1) ^ Math.imul(seed | 0, 0x85ebca77)) >>> 0;
  x = Math.imul(x ^ (x >>> 15), x | 1);
  x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
  return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
}

/**
 * Seeded value noise in [-1, 1]: random values at every `periodS`, linear in between. A function
 * of time, not of call order, so every rig and every step size sees the same wander.
 */
export function valueNoise(t: number, seed: number, periodS = 1): number {
  const x = t / periodS;
  const k = Math.floor(x);
  const a = hash(k, seed) * 2 - 1;
  const b = hash(k + 1, seed) * 2 - 1;
  return a + (b - a) * (x - k);
}
