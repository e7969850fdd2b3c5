import type Firmata from 'firmata';
import type { Clock, Timer } from '../../agent/clock';
import { logger } from '../../agent/log';
import { IO_DEFAULTS } from './options';

const log = logger('io');

/** clean windows without an answer to the re-query after which a release counts anyway */
const RELEASE_UNANSWERED_WINDOWS = 4;
/** the relay port is asked again at most this often, whatever release_ms says (line budget) */
const RELAY_REREAD_MIN_MS = 50;

export interface RelayPin {
  pin: number;
  active: 'low' | 'high';
  releaseMs: number;
}

/** What a watch needs of the driver: the contact's believed state, which outlives connections. */
export interface RelayHost {
  readonly active: boolean;
  /** believe a new state and tell the site, on the fast path */
  set(active: boolean): void;
  /** a question went to the board (link counters) */
  asked(): void;
}

interface PendingRelease {
  timer: Timer;
  /** stream noise when the window began: any change = noise in the window */
  noiseMark: number;
  /** an inactive report arrived after this window's re-query went out */
  answered: boolean;
  /** windows that ended clean but unanswered */
  unanswered: number;
}

/**
 * One connection's watch on the grid relay contact. Firmata has no checksum, so line noise can
 * forge a digital message and with it a contact change either way. The two ways are not equal:
 *  - active (trip): believed at once, on the fast path, in the tick it was parsed. A forged
 *    trip costs about two release windows (the board is asked again within one, below); a
 *    missed one could cost the site its grid connection.
 *  - inactive while tripped (release): believed only once the contact has stayed inactive for
 *    `release_ms` on a clean line (the stream monitor counted no stray byte or broken frame in
 *    the window) and the board, asked again (report-digital on; StandardFirmata answers with
 *    the port's present state), has confirmed it. An active report in the window cancels the
 *    release; noise in the window, or no answer, starts it again with a fresh question. A
 *    board that never answers the question gets its release after RELEASE_UNANSWERED_WINDOWS
 *    clean windows.
 * StandardFirmata reports a port only when it changes, so one report lost or damaged on the line
 * would hide the contact for as long as it stays put (issue 18): the board is asked again every
 * window while no release window is asking already, which bounds that to one window.
 */
export class RelayWatch {
  private release?: PendingRelease;
  private reread?: Timer;
  private stopped = false;

  /**
   * @param noise stream noise so far (the monitor's garbage + resyncs)
   * @param chunkNoise the same, as it was before the chunk now being parsed: noise around a forged frame counts too
   * @param onReport after every report, once it has been handled
   */
  constructor(
    private readonly io: Firmata,
    private readonly relay: RelayPin,
    private readonly clock: Clock,
    private readonly host: RelayHost,
    private readonly noise: () => number,
    private readonly chunkNoise: () => number,
    private readonly onReport: () => void,
  ) {}

  /** the pin is an input (the caller has checked the board can do the mode): watch it */
  start(mode: number): void {
    const { io, relay } = this;
    io.pinMode(relay.pin, mode);
    const activeLevel = relay.active === 'low' ? 0 : 1;
    io.on(`digital-read-${relay.pin}`, (level: number) => {
      if (this.stopped) return;
      this.onLevel(level === activeLevel);
      this.onReport();
    });
    io.reportDigitalPin(relay.pin, 1);
    const every = Math.max(RELAY_REREAD_MIN_MS, relay.releaseMs || IO_DEFAULTS.relay_release_ms);
    this.reread = this.clock.setInterval(() => {
      if (this.stopped || this.release) return;
      this.ask();
    }, every);
  }

  stop(): void {
    this.stopped = true;
    this.reread?.cancel();
    this.cancelRelease();
  }

  private onLevel(active: boolean): void {
    if (active) {
      if (this.release) this.cancelRelease();
      if (!this.host.active) this.host.set(true); // fast path: listeners run before anything else is parsed
      return;
    }
    if (!this.host.active) return;
    if (this.release) {
      this.release.answered = true;
      return;
    }
    this.release = { timer: this.releaseTimer(), noiseMark: this.chunkNoise(), answered: false, unanswered: 0 };
    this.ask(); // the question: the board answers with the port's state
  }

  private releaseTimer(): Timer {
    return this.clock.setTimeout(() => {
      const p = this.release;
      if (this.stopped || !p) return;
      const clean = this.noise() === p.noiseMark;
      if (clean && (p.answered || ++p.unanswered >= RELEASE_UNANSWERED_WINDOWS)) {
        this.release = undefined;
        this.host.set(false);
        return;
      }
      if (!clean) log.debug({ pin: this.relay.pin }, 'relay release seen on a noisy line: asking again');
      p.noiseMark = this.noise();
      p.answered = false;
      p.timer = this.releaseTimer();
      this.ask();
    }, this.relay.releaseMs);
  }

  private ask(): void {
    this.host.asked();
    this.io.reportDigitalPin(this.relay.pin, 1);
  }

  private cancelRelease(): void {
    this.release?.timer.cancel();
    this.release = undefined;
  }
}
