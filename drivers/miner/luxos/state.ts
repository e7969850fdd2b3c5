import type { Clock } from '../../../agent/clock';
import type { MinerState, MinerStatus } from '../../../agent/hardware';
import type { Logger } from '../../../agent/log';
import type { LuxosReading } from './api';
import type { ProfileScale } from './scale';

/**
 * What the driver believes of the miner, from its polls and from the commands the firmware took:
 * the last reading, the profile in force, and a curtail sleep / wakeup accepted but not yet seen
 * in config (status shows the command at once; a command not seen within its confirmation time
 * is a fault). No I/O here: driver.ts feeds it.
 */
/** above this share of the top setting's power a curtailed miner is still stopping */
const STOPPING_SHARE = 0.1;
/** below this share of the profile's expected hashrate an awake miner is still coming up */
const WAKING_SHARE = 0.5;

export interface Confirm {
  /** an accepted sleep / wakeup not seen in config this long after is a fault (ms) */
  offConfirmMs: number;
  onConfirmMs: number;
}

export type Seen = Omit<MinerStatus, 'id' | 'fault' | 'counters'>;

export class LuxosState {
  reading?: LuxosReading;
  /** the profile in force as reported or written last */
  profileNow?: string;
  confirmFault?: string;
  private intent?: { on: boolean; dueMono: number };
  private atmSaid = false;

  constructor(private readonly scale: ProfileScale, private readonly clock: Clock, private readonly confirm: Confirm, private readonly log: Logger) {}

  /** the firmware took a curtail sleep (on false) or wakeup */
  expect(on: boolean): void {
    this.intent = { on, dueMono: this.clock.monotonic() + (on ? this.confirm.onConfirmMs : this.confirm.offConfirmMs) };
    this.confirmFault = undefined;
  }

  /** asleep as commanded (not yet seen) or as reported; undefined if unknown */
  asleep(): boolean | undefined {
    if (this.intent) return !this.intent.on;
    return this.reading ? this.reportedAsleep(this.reading) : undefined;
  }

  absorb(r: LuxosReading): void {
    this.reading = r;
    if (r.profile) this.profileNow = r.profile;
    const it = this.intent;
    const reported = this.reportedAsleep(r);
    if (it && reported !== undefined) {
      if (reported === !it.on) this.intent = undefined;
      else if (this.clock.monotonic() > it.dueMono) {
        this.intent = undefined;
        this.confirmFault = `miner accepted curtail ${it.on ? 'wakeup' : 'sleep'} but its config still says ${it.on ? 'sleep' : 'awake'}`;
        this.log.error({ on: it.on }, 'miner does not apply its curtail command');
      }
    }
    if (r.atm && !this.atmSaid) {
      this.atmSaid = true;
      this.log.warn('LuxOS ATM is on: the firmware may change profiles itself, against control\'s setting');
    }
  }

  /** status() but for id, fault and counters; `link` says why the last reading is not to be trusted */
  seen(link: { refused: boolean; faulted: boolean; unreachable: boolean }): Seen {
    const r = link.refused || link.faulted ? undefined : this.reading;
    const asleep = this.asleep();
    const max = this.scale.max;
    const setting = asleep ? 0 : this.scale.settingOf(this.profileNow, r?.watts) ?? max;
    const kw = r?.watts !== undefined ? r.watts / 1000 : this.scale.kwAt(setting);
    let state: MinerState;
    if (link.refused || (link.faulted && !link.unreachable)) state = 'unknown';
    else if (link.faulted) state = 'unreachable';
    else if (!r || asleep === undefined) state = 'unknown';
    else if (asleep) state = this.reportedAsleep(r) && kw <= STOPPING_SHARE * this.scale.kwAt(max) ? 'sleeping' : 'stopping';
    else if (this.intent?.on || this.reportedAsleep(r)) state = 'waking';
    else state = hashingAt(r.ths, this.scale.thsAt(setting)) ? 'hashing' : 'waking';
    return { on: asleep === false, kw, kwMeasured: r?.watts !== undefined, ths: r ? r.ths : NaN, tempC: r?.tempC ?? NaN, state, setting };
  }

  /** curtailed by config's CurtailMode; where the firmware does not say, by a miner drawing standby power with no hashrate */
  private reportedAsleep(r: LuxosReading): boolean | undefined {
    if (r.asleep !== undefined) return r.asleep;
    if (r.watts === undefined) return undefined;
    return r.ths === 0 && r.watts / 1000 <= STOPPING_SHARE * this.scale.kwAt(this.scale.max);
  }
}

function hashingAt(ths: number, expected: number): boolean {
  return Number.isFinite(expected) && expected > 0 ? ths >= WAKING_SHARE * expected : ths > 0;
}
