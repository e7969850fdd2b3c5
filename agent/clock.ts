/**
 * The injected clock. Control code and drivers take a Clock instead of touching Date.now or
 * the global timers, so tests can run a 24-hour scenario in virtual time (after matter.js's
 * Time / MockTime). `realClock` is the only place that reads the wall clock.
 */
export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** milliseconds since the epoch (wall time; virtual in tests) */
  now(): number;
  /** monotonic milliseconds with sub-ms resolution, for latency figures */
  monotonic(): number;
  setTimeout(fn: () => void, ms: number): Timer;
  setInterval(fn: () => void, ms: number): Timer;
}

export const realClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
  setInterval(fn, ms) {
    const t = setInterval(fn, ms);
    return { cancel: () => clearInterval(t) };
  },
};

interface Scheduled {
  at: number;
  seq: number;
  fn: () => void;
  every?: number;
  cancelled: boolean;
}

/** A clock that only moves when told to: `advance(ms)` runs every timer due, in order. */
export class VirtualClock implements Clock {
  private t: number;
  /** wall-clock steps (NTP, an operator's `date -s`): now() moves, monotonic() does not */
  private wallSkew = 0;
  private seq = 0;
  private queue: Scheduled[] = [];

  constructor(startMs = Date.UTC(2026, 0, 1)) {
    this.t = startMs;
  }

  now(): number {
    return this.t + this.wallSkew;
  }

  /** Step the wall clock alone by `ms` (negative: backwards); timers and monotonic() are unmoved. */
  stepWall(ms: number): void {
    this.wallSkew += ms;
  }

  monotonic(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): Timer {
    return this.schedule(fn, ms);
  }

  setInterval(fn: () => void, ms: number): Timer {
    return this.schedule(fn, ms, Math.max(1, ms));
  }

  /** Move time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const next = this.popDue(end);
      if (!next) break;
      this.t = next.at;
      if (next.every !== undefined) {
        next.at += next.every;
        this.queue.push(next);
      }
      next.fn();
    }
    this.t = end;
  }

  /** number of live timers, for tests that check nothing is left running */
  get pending(): number {
    return this.queue.filter((s) => !s.cancelled).length;
  }

  private schedule(fn: () => void, ms: number, every?: number): Timer {
    const s: Scheduled = { at: this.t + Math.max(0, ms), seq: this.seq++, fn, every, cancelled: false };
    this.queue.push(s);
    return { cancel: () => { s.cancelled = true; } };
  }

  private popDue(end: number): Scheduled | undefined {
    this.queue = this.queue.filter((s) => !s.cancelled);
    let best = -1;
    for (let i = 0; i < this.queue.length; i++) {
      const s = this.queue[i];
      if (s.at > end) continue;
      if (best < 0 || s.at < this.queue[best].at || (s.at === this.queue[best].at && s.seq < this.queue[best].seq)) best = i;
    }
    return best < 0 ? undefined : this.queue.splice(best, 1)[0];
  }
}
