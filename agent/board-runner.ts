import type { Clock, Timer } from './clock';
import type { Hashboard, IoBoard } from './hardware';
import type { Logger } from './log';

/** Time a hashboard's power stage needs after its enable line goes high before the chain answers. */
const POWER_UP_MS = 200;

/**
 * Brings one board to the frequency control asks for, one step at a time, latest target wins.
 * Normal changes go through here (power up, start the chain, ramp); a trip does NOT: it calls
 * `shed()`, which cuts the enable line and stops the chain at once and makes any step in flight
 * start over from the powered-off state.
 */
export class BoardRunner {
  private want = 0;
  private powered: boolean;
  private started = false;
  private busy = false;
  /** bumped by every shed, so a step in flight knows it has been overtaken */
  private epoch = 0;
  private retry?: Timer;
  /** after stop(): no more steps, no more retries (the agent is shutting down) */
  private stopped = false;

  constructor(
    readonly board: Hashboard,
    private readonly io: IoBoard | undefined,
    private readonly hasEnable: boolean,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly onFault: (fault: string | undefined) => void,
  ) {
    this.powered = !hasEnable;
  }

  /** Trip path: enable line low (synchronous write), chain inactive. Resolves when both are written. */
  shed(): Promise<void> {
    this.epoch++;
    this.want = 0;
    if (this.hasEnable && this.io) {
      this.io.setEnable(this.board.id, false);
      this.powered = false;
    }
    this.started = false;
    return this.board.trip().catch(() => { /* a dead link: the enable line has cut power anyway */ });
  }

  /** Shut down: shed, then ignore later targets and cancel the retry, so nothing keeps the process alive. */
  stop(): Promise<void> {
    this.stopped = true;
    this.retry?.cancel();
    return this.shed();
  }

  set target(mhz: number) {
    if (this.stopped) return;
    this.want = mhz;
    void this.converge();
  }

  get target(): number {
    return this.want;
  }

  private async converge(): Promise<void> {
    if (this.busy || this.stopped) return;
    this.retry?.cancel();
    this.busy = true;
    try {
      for (;;) {
        const epoch = this.epoch;
        const want = this.want;
        await this.step(want, epoch);
        if (this.stopped || (epoch === this.epoch && want === this.want)) break;
      }
      if (!this.stopped) this.onFault(undefined);
    } catch (e) {
      this.log.warn({ board: this.board.id, err: (e as Error).message }, 'board step failed');
      this.started = false;
      if (this.stopped) return;
      this.onFault((e as Error).message);
      // try again later: the link reconnects by itself, and control may still want this board
      this.retry = this.clock.setTimeout(() => void this.converge(), 2000);
    } finally {
      this.busy = false;
    }
  }

  private async step(want: number, epoch: number): Promise<void> {
    // every await may be overtaken by a trip: never switch anything on after one
    const overtaken = () => epoch !== this.epoch;
    if (want <= 0) {
      if (this.started) await this.board.setFrequency(0);
      if (this.hasEnable && this.io && this.powered) {
        this.io.setEnable(this.board.id, false);
        this.powered = false;
        this.started = false;
      }
      return;
    }
    if (!this.powered && this.io) {
      this.io.setEnable(this.board.id, true);
      this.powered = true;
      await new Promise<void>((r) => this.clock.setTimeout(r, POWER_UP_MS));
      if (overtaken()) return;
    }
    if (!this.started) {
      await this.board.start();
      if (overtaken()) return;
      this.started = true;
    }
    await this.board.setFrequency(want);
  }
}
