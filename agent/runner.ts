import type { LoadModel } from './control/types';
import type { Logger } from './log';

/**
 * One load the site runs (a hashboard, a network miner), brought to the setting control asks
 * for one step at a time, latest target wins. Normal changes go through `target`; a trip goes
 * through `shed()`, which stops the load at once and makes any step in flight start over.
 *
 * It reports what it learns of the load's health through `onResult`: a failed step, or a
 * target above zero reached (the load answered and runs). Reaching zero says nothing about
 * health (cutting power works on a dead chain), so it is not reported. Whether and when to
 * try a failed load again is the site's call: a runner never retries by itself.
 */
export abstract class Runner {
  abstract readonly id: string;
  abstract readonly model: LoadModel;
  private want = 0;
  private busy = false;
  /** bumped by every shed, so a step in flight knows it has been overtaken */
  protected epoch = 0;
  /**
   * the target and epoch the last finished step reached: anything else still needs a step.
   * NaN before the first step and after a failed one: the next target is always stepped
   */
  private reached = { want: Number.NaN, epoch: 0 };
  /** after stop(): no more steps (the agent is shutting down) */
  private stopped = false;

  constructor(protected readonly log: Logger, private readonly onResult: (error: string | undefined) => void) {}

  /** take the load to `setting` (0 = off); `epoch` changes if a shed overtakes the step */
  protected abstract step(setting: number, epoch: number): Promise<void>;
  /** the trip itself: resolves with why the load cannot be confirmed off, or undefined */
  protected abstract stopNow(): Promise<string | undefined>;

  /** Trip path: stop the load now. Resolves once the stop is written (or accepted), with why it cannot be confirmed. */
  shed(): Promise<string | undefined> {
    this.epoch++;
    this.want = 0;
    return this.stopNow();
  }

  /** Shut down: ignore later targets, and stop the load. */
  stop(): Promise<string | undefined> {
    this.stopped = true;
    return this.shed();
  }

  set target(setting: number) {
    if (this.stopped) return;
    this.want = setting;
    // control hands every load its target whenever any load's changes: one already there needs
    // no step (a network miner would get its setting written again, a thousand at a time)
    if (!this.busy && setting === this.reached.want && this.epoch === this.reached.epoch) return;
    void this.converge();
  }

  get target(): number {
    return this.want;
  }

  /** the load is at `setting` already (found so at start): no step is owed for it */
  assume(setting: number): void {
    this.want = setting;
    this.reached = { want: setting, epoch: this.epoch };
  }

  private async converge(): Promise<void> {
    if (this.busy || this.stopped) return;
    this.busy = true;
    let error: string | undefined;
    let ran = false;
    try {
      for (;;) {
        const epoch = this.epoch;
        const want = this.want;
        await this.step(want, epoch);
        if (this.stopped) return;
        this.reached = { want, epoch };
        if (epoch === this.epoch && want === this.want) { ran = want > 0; break; }
      }
    } catch (e) {
      this.reached = { want: Number.NaN, epoch: this.epoch };
      error = (e as Error).message;
      this.log.warn({ load: this.id, err: error }, 'step failed');
    } finally {
      this.busy = false;
    }
    if (this.stopped) return;
    // reported with `busy` already clear: a target control sets in answer starts its own step
    if (error !== undefined) this.onResult(error);
    else if (ran) this.onResult(undefined);
    // and a target set while the last step ran is never lost
    if (error === undefined && !this.busy && (this.want !== this.reached.want || this.epoch !== this.reached.epoch)) void this.converge();
  }
}
