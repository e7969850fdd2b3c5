import type { LoadModel } from './types';

/**
 * Split a miners' power target (kW) across boards as chip frequencies (MHz, 0 = off).
 * Boards run together at lower frequency rather than some flat out and some off (less
 * switching, cooler chips); a board is switched off entirely only when the target cannot
 * keep it at its minimum frequency. Frequencies are whole PLL steps and the sum never
 * exceeds the target: running over the surplus means importing from the grid.
 *
 * `caps` limits a board's frequency (thermal throttling); boards missing from `boards`
 * (faulted, not yet ramped in) get no share.
 */
export function splitTarget(
  targetKw: number,
  boards: LoadModel[],
  caps: Map<string, number> = new Map(),
  /**
   * boards running now; to switch one more on, the target must clear `headroom` × the boards'
   * minimums plus `addKw` (hysteresis on the board count)
   */
  keep: { on: ReadonlySet<string>; addKw: number; headroom: number } = { on: new Set(), addKw: 0, headroom: 1 },
): Map<string, number> {
  const out = new Map<string, number>();
  for (const b of boards) out.set(b.id, 0);
  if (!(targetKw > 0) || boards.length === 0) return out;

  const capOf = (b: LoadModel) => Math.min(b.max, caps.get(b.id) ?? b.max);
  const usable = boards.filter((b) => capOf(b) >= b.min);
  // each load's kW at its minimum, read once (the sort and the sums below need it often)
  const minKw = new Map(usable.map((b) => [b.id, b.kwAt(b.min)]));
  // the most boards that can all run at their minimum within the target, boards already running
  // first; switching one more on needs `addKw` in hand, so the count does not flap at a boundary
  const on = usable.slice().sort((a, b) => Number(keep.on.has(b.id)) - Number(keep.on.has(a.id)) || minKw.get(a.id)! - minKw.get(b.id)!);
  const running = on.filter((b) => keep.on.has(b.id)).length;
  // minimums summed over each prefix of `on`, in order (the same sums, to the bit, as summing
  // each prefix afresh): dropping loads from the end costs O(n), not O(n²)
  const prefix = [0];
  for (const b of on) prefix.push(prefix[prefix.length - 1] + minKw.get(b.id)!);
  const fits = (k: number) => (k > running ? keep.headroom * prefix[k] + keep.addKw : prefix[k]) <= targetKw;
  let count = on.length;
  while (count && !fits(count)) count--;
  if (!count) return out;
  on.length = count;

  // settings and caps by position in `on`
  const mhz = on.map((b) => b.min);
  const cap = on.map(capOf);
  let left = targetKw - prefix[count];
  // raise one step at a time, always on the slowest board (the first in `on` among equals),
  // while the next step still fits. A min-heap on (setting, position) finds it in O(log n) where
  // a scan of every load cost O(n) a step: with a thousand network miners a split was about
  // 0.6 s, on every meter sample. A load at its cap never becomes eligible again; one whose next
  // step does not fit `left` waits aside until `left` grows again (a load whose kW falls with
  // its setting gives some back), so the picks are exactly the scan's.
  const heap = new LoadHeap(mhz);
  let aside: number[] = [];
  for (;;) {
    let i = -1;
    let delta = 0;
    while ((i = heap.pop()) >= 0) {
      const b = on[i];
      const f = mhz[i];
      if (f + b.step > cap[i] + 1e-9) continue; // at its cap: for good
      delta = b.kwAt(f + b.step) - b.kwAt(f);
      if (delta > left + 1e-9) { aside.push(i); continue; }
      break;
    }
    if (i < 0) break;
    left -= delta;
    mhz[i] += on[i].step;
    heap.push(i);
    if (!(delta >= 0) && aside.length) {
      for (const j of aside) heap.push(j);
      aside = [];
    }
  }
  on.forEach((b, i) => out.set(b.id, mhz[i]));
  return out;
}

/** Estimated kW of a set of frequencies. */
export function kwOf(targets: Map<string, number>, boards: LoadModel[]): number {
  let kw = 0;
  for (const b of boards) {
    const f = targets.get(b.id) ?? 0;
    if (f > 0) kw += b.kwAt(f);
  }
  return kw;
}

/** A binary min-heap of positions, ordered by their present setting, then position. */
class LoadHeap {
  private readonly h: number[] = [];

  constructor(private readonly setting: number[]) {
    for (let i = 0; i < setting.length; i++) this.push(i);
  }

  private less(a: number, b: number): boolean {
    const fa = this.setting[a], fb = this.setting[b];
    return fa < fb || (fa === fb && a < b);
  }

  push(i: number): void {
    const h = this.h;
    h.push(i);
    let c = h.length - 1;
    while (c > 0) {
      const p = (c - 1) >> 1;
      if (!this.less(h[c], h[p])) break;
      const t = h[c]; h[c] = h[p]; h[p] = t;
      c = p;
    }
  }

  /** the least position, or -1 when empty */
  pop(): number {
    const h = this.h;
    if (!h.length) return -1;
    const top = h[0];
    const last = h.pop()!;
    if (h.length) {
      h[0] = last;
      let p = 0;
      for (;;) {
        const l = 2 * p + 1, r = l + 1;
        let m = p;
        if (l < h.length && this.less(h[l], h[m])) m = l;
        if (r < h.length && this.less(h[r], h[m])) m = r;
        if (m === p) break;
        const t = h[m]; h[m] = h[p]; h[p] = t;
        p = m;
      }
    }
    return top;
  }
}
