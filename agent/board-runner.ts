import type { Clock } from './clock';
import type { LoadModel } from './control/types';
import type { Hashboard, IoBoard } from './hardware';
import { hashboardLoad } from './loads';
import type { Logger } from './log';
import { Runner } from './runner';

/** Time a hashboard's power stage needs after its enable line goes high before the chain answers. */
const POWER_UP_MS = 200;

/**
 * A hashboard as a load: power up, start the chain, ramp the chip frequency. On a trip the site
 * cuts every enable line at once (IoBoard.shedEnables) and `shed()` stops the chain.
 */
export class BoardRunner extends Runner {
  readonly model: LoadModel;
  private powered: boolean;
  private started = false;

  constructor(
    readonly board: Hashboard,
    private readonly io: IoBoard | undefined,
    private readonly hasEnable: boolean,
    private readonly clock: Clock,
    log: Logger,
    onResult: (error: string | undefined) => void,
  ) {
    super(log, onResult);
    this.model = hashboardLoad(board);
    this.powered = !hasEnable;
  }

  get id(): string {
    return this.board.id;
  }

  /**
   * After the site has cut the enable lines: chain inactive. A board with no enable line whose
   * chain did not take the stop (a dead link) may still be hashing: that is said, not hidden.
   */
  protected stopNow(): Promise<string | undefined> {
    if (this.hasEnable) this.powered = false;
    this.started = false;
    return this.board.trip().then(
      () => undefined,
      (e: Error) => (this.hasEnable ? undefined : `${this.board.id}: no enable line and the stop was not written (${e.message})`),
    );
  }

  protected async step(want: number, epoch: number): Promise<void> {
    // every await may be overtaken by a trip: never switch anything on after one
    const overtaken = () => epoch !== this.epoch;
    try {
      await this.ramp(want, overtaken);
    } catch (e) {
      this.started = false;
      throw e;
    }
  }

  private async ramp(want: number, overtaken: () => boolean): Promise<void> {
    if (want <= 0) {
      try {
        if (this.started) await this.board.setFrequency(0);
      } finally {
        // power goes off even when the chain did not take the ramp down
        if (this.hasEnable && this.io && this.powered) {
          this.io.setEnable(this.board.id, false);
          this.powered = false;
          this.started = false;
        }
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
