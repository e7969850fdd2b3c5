import type { Clock, Timer } from './clock';
import type { ControlEvent, TripSource } from './control/types';

/** the miners' readings count as "power gone" below this share of what they drew at the trip (standby, PSU fans) */
const GONE_SHARE = 0.05;
/** the meter must show at least this share of the miners' drop (the rest of the site moves meanwhile) */
const METER_SHARE = 0.8;
/** a trip whose power is not gone by then is reported as not settled */
export const SETTLE_TIMEOUT_MS = 300_000;

interface Pending {
  source: TripSource;
  signalAt: number;
  gridBefore?: number;
  minersBefore: number;
  timer: Timer;
}

/**
 * A network miner takes seconds to stop hashing after its API accepts the stop, so a trip's ack
 * says only that every stop was accepted. This watches the miners' own power readings and the
 * meter after a trip, and reports once both show the power gone: a `settled` event with the
 * time it took from the trip signal (`ms`), or `ok: false` after SETTLE_TIMEOUT_MS.
 */
export class SettleWatch {
  private pending?: Pending;

  constructor(private readonly clock: Clock, private readonly emit: (e: ControlEvent) => void) {}

  /** a trip was signalled at `signalAt` (monotonic); grid and miners' kW as last read */
  begin(source: TripSource, signalAt: number, gridKw: number | undefined, minersKw: number): void {
    if (this.pending) return; // a second source during the same shed: the first one's clock runs on
    const timer = this.clock.setTimeout(() => this.finish(false, gridKw, minersKw), SETTLE_TIMEOUT_MS);
    this.pending = { source, signalAt, gridBefore: gridKw, minersBefore: minersKw, timer };
  }

  /** each meter sample, with the miners' present readings */
  sample(gridKw: number, minersKw: number): void {
    const p = this.pending;
    if (!p) return;
    const minersGone = minersKw <= Math.max(0.05, GONE_SHARE * p.minersBefore);
    const meterSees = p.gridBefore === undefined || p.gridBefore - gridKw >= METER_SHARE * (p.minersBefore - minersKw);
    if (minersGone && meterSees) this.finish(true, gridKw, minersKw);
  }

  stop(): void {
    this.pending?.timer.cancel();
    this.pending = undefined;
  }

  private finish(ok: boolean, gridKw: number | undefined, minersKw: number): void {
    const p = this.pending;
    if (!p) return;
    p.timer.cancel();
    this.pending = undefined;
    const gridDrop = p.gridBefore !== undefined && gridKw !== undefined ? p.gridBefore - gridKw : undefined;
    this.emit({
      kind: 'settled', source: p.source, ok, ms: Math.round(this.clock.monotonic() - p.signalAt),
      miners_kw: Math.round(minersKw * 1000) / 1000, ...(gridDrop !== undefined ? { grid_drop_kw: Math.round(gridDrop * 1000) / 1000 } : {}),
    });
  }
}
