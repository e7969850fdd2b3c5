import type { Clock, Timer } from '../clock';

export interface UnderfrequencyOptions {
  tripHz: number;
  sustainMs: number;
  /** frequency must come back above tripHz + this to count as recovered (relay dropout) */
  hysteresisHz?: number;
}

/**
 * Under-frequency relay in software: trips when frequency stays below trip_hz for sustain_ms.
 * The sustain time runs from the estimated crossing (interpolated between the last sample above
 * and the first below), and the trip fires from a timer rather than waiting for the next sample,
 * so polling at 50 ms adds no more than one interval of detection delay.
 */
export class UnderfrequencyDetector {
  private prev?: { at: number; hz: number };
  private timer?: Timer;
  private below = false;

  constructor(
    private readonly opts: UnderfrequencyOptions,
    private readonly clock: Clock,
    private readonly onTrip: () => void,
  ) {}

  /** true while the last sample was below trip_hz + hysteresis (not yet recovered) */
  get low(): boolean {
    return this.prev !== undefined && this.prev.hz < this.opts.tripHz + (this.opts.hysteresisHz ?? 0.05);
  }

  /** @param at the sample's monotonic stamp (clock.monotonic()): a wall-clock step must not stretch or skip the sustain */
  sample(at: number, hz: number): void {
    const { tripHz, sustainMs } = this.opts;
    if (hz < tripHz) {
      if (!this.below) {
        this.below = true;
        const crossAt = this.prev && this.prev.hz >= tripHz
          ? this.prev.at + ((at - this.prev.at) * (this.prev.hz - tripHz)) / (this.prev.hz - hz)
          : at;
        const wait = Math.max(0, crossAt + sustainMs - this.clock.monotonic());
        if (wait === 0) this.fire();
        else this.timer = this.clock.setTimeout(() => this.fire(), wait);
      }
    } else {
      this.reset();
    }
    this.prev = { at, hz };
  }

  reset(): void {
    this.below = false;
    this.timer?.cancel();
    this.timer = undefined;
  }

  private fire(): void {
    this.timer = undefined;
    this.onTrip();
  }
}
