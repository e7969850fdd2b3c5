import type { BoardModel } from './types';

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
  boards: BoardModel[],
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

  const capOf = (b: BoardModel) => Math.min(b.maxMhz, caps.get(b.id) ?? b.maxMhz);
  const usable = boards.filter((b) => capOf(b) >= b.minMhz);
  // the most boards that can all run at their minimum within the target, boards already running
  // first; switching one more on needs `addKw` in hand, so the count does not flap at a boundary
  let on = usable.slice().sort((a, b) => Number(keep.on.has(b.id)) - Number(keep.on.has(a.id)) || a.kwAt(a.minMhz) - b.kwAt(b.minMhz));
  const running = on.filter((b) => keep.on.has(b.id)).length;
  const minSum = (set: BoardModel[]) => set.reduce((sum, b) => sum + b.kwAt(b.minMhz), 0);
  const fits = (set: BoardModel[]) => (set.length > running ? keep.headroom * minSum(set) + keep.addKw : minSum(set)) <= targetKw;
  while (on.length && !fits(on)) on = on.slice(0, -1);
  if (!on.length) return out;

  const mhz = new Map(on.map((b) => [b.id, b.minMhz]));
  let left = targetKw - on.reduce((s, b) => s + b.kwAt(b.minMhz), 0);
  // raise one step at a time, always on the slowest board, while the next step still fits
  for (;;) {
    let best: BoardModel | undefined;
    for (const b of on) {
      const f = mhz.get(b.id)!;
      if (f + b.stepMhz > capOf(b) + 1e-9) continue;
      if (b.kwAt(f + b.stepMhz) - b.kwAt(f) > left + 1e-9) continue;
      if (!best || f < mhz.get(best.id)!) best = b;
    }
    if (!best) break;
    const f = mhz.get(best.id)!;
    left -= best.kwAt(f + best.stepMhz) - best.kwAt(f);
    mhz.set(best.id, f + best.stepMhz);
  }
  for (const [id, f] of mhz) out.set(id, f);
  return out;
}

/** Estimated kW of a set of frequencies. */
export function kwOf(targets: Map<string, number>, boards: BoardModel[]): number {
  let kw = 0;
  for (const b of boards) {
    const f = targets.get(b.id) ?? 0;
    if (f > 0) kw += b.kwAt(f);
  }
  return kw;
}
