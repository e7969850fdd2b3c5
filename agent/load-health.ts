import type { Clock, Timer } from './clock';
import type { Controller } from './control/controller';

interface Health {
  /** the control fault source (`board:ID`, `miner:ID`) */
  source: string;
  fault?: string;
  /** brought up and running at control's target: only then does a driver-found fault count */
  running: boolean;
  retry?: Timer;
  /** held out by its I/O pin, not by the load itself */
  pin: boolean;
}

/**
 * What the site knows of each load's health (hashboards, network miners alike). A load is held
 * out of control's split while it has a fault; every `retryMs` it is let back in for one more
 * try (control then starts it only if it wants it), and the fault clears only when the load
 * runs and its driver finds nothing wrong: a dead load costs one `fault` event and one try per
 * retryMs, never a fault/recover pair. Pin faults (an enable line the I/O board cannot drive)
 * are not retried: they clear when the I/O board reconnects without them.
 */
export class LoadHealth {
  private readonly loads = new Map<string, Health>();

  constructor(
    private readonly controller: Controller,
    private readonly clock: Clock,
    private readonly retryMs: number,
    /** the setting control wants of a load now (0 = off) */
    private readonly targetOf: (id: string) => number,
  ) {}

  add(id: string, source: string): void {
    this.loads.set(id, { source, running: false, pin: false });
  }

  has(id: string): boolean {
    return this.loads.has(id);
  }

  /** why a load is held out, if it is */
  faultOf(id: string): string | undefined {
    return this.loads.get(id)?.fault;
  }

  /** its runner's report: a failed step, or (undefined) the load came up; `driverFault` as its status says now */
  result(id: string, error: string | undefined, driverFault: string | undefined): void {
    const h = this.loads.get(id)!;
    if (error !== undefined || driverFault) return this.hold(id, error ?? driverFault!);
    h.running = true;
    this.recover(id);
  }

  /** a fault the driver finds while polling counts for a load that runs (bring-up is judged by its runner) */
  status(id: string, driverFault: string | undefined): void {
    const h = this.loads.get(id);
    if (!h?.running) return;
    if (this.targetOf(id) <= 0) h.running = false;
    else if (driverFault) this.hold(id, driverFault);
  }

  hold(id: string, detail: string, pin = false): void {
    const h = this.loads.get(id)!;
    h.running = false;
    h.fault = detail;
    h.pin ||= pin;
    this.controller.fault(h.source, detail);
    if (h.pin || h.retry) return;
    h.retry = this.clock.setTimeout(() => {
      h.retry = undefined;
      this.controller.retryFault(h.source);
    }, this.retryMs);
  }

  /** the pin that held a load out works again */
  pinMended(id: string): void {
    const h = this.loads.get(id);
    if (!h) return;
    h.pin = false;
    this.recover(id);
  }

  stop(): void {
    for (const h of this.loads.values()) h.retry?.cancel();
  }

  private recover(id: string): void {
    const h = this.loads.get(id)!;
    if (h.fault === undefined || h.pin) return;
    h.retry?.cancel();
    h.retry = undefined;
    h.fault = undefined;
    this.controller.unfault(h.source);
  }
}
