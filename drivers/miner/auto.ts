import type { Clock, Timer } from '../../agent/clock';
import { ErrorCode, HashflexError } from '../../agent/errors';
import { newCounters, type MinerSettings, type MinerStatus, type NetworkMiner } from '../../agent/hardware';
import { logger } from '../../agent/log';
import type { Identify, MinerIdentity } from './identify';
import type { MinerDriver, MinerOptions } from './options';
import { answered, probeHost, type ProbeResult } from './probe';

/**
 * `driver: auto` (DESIGN.md §7): a miner whose family is found at start, as `hashflex discover`
 * finds it (probe.ts: 4028 `version` / `devdetails` and `GET /`, each family's identify()), then
 * driven by that family's driver, to which every call is passed on.
 *
 * Until identified it drives nothing: status() is a fault ("not identified yet: …"), stop() and
 * set() reject at once (a trip on it is reported in the curtail's ack, not hidden), and it tries
 * again every poll period, backing off to RETRY_MAX_MS while nothing answers. Once identified it
 * stays that family's for its lifetime: a host that later answers as something else is the
 * family driver's fault to report (each refuses to act on firmware that is not its own), never a
 * reason to switch drivers under a running control loop.
 */
export const RETRY_MAX_MS = 60_000;

/** builds the identified family's driver with this miner's options (drivers/miner/index.ts) */
export type FamilyFactory = (family: MinerDriver) => NetworkMiner;

export class AutoMiner implements NetworkMiner {
  readonly id: string;
  readonly settings: MinerSettings;
  /** what the probe found, once it has */
  identity: MinerIdentity | undefined;

  private inner: NetworkMiner | undefined;
  private fault = 'not identified yet: not probed';
  private state: MinerStatus['state'] = 'unknown';
  private readonly counters = newCounters();
  private readonly log;
  private attempts = 0;
  private timer: Timer | undefined;
  private probing: Promise<void> | undefined;
  private abort: AbortController | undefined;
  private closed = false;

  constructor(
    private readonly o: MinerOptions,
    private readonly clock: Clock,
    /** the family's driver, once identified (index.ts createMiner) */
    private readonly build: FamilyFactory,
    /** each family's identify() in turn (index.ts identifyMiner) */
    private readonly identify: Identify,
    private readonly probe: typeof probeHost = probeHost,
  ) {
    this.id = o.id;
    this.log = logger('miner').child({ miner: o.id, host: o.host, driver: 'auto' });
    const self = this;
    // one object for the miner's life: until identified an on/off scale at the nameplate, then the
    // family driver's (read through, so a caller holding it sees the change)
    this.settings = {
      get min() { return self.inner?.settings.min ?? 1; },
      get max() { return self.inner?.settings.max ?? 1; },
      get step() { return self.inner?.settings.step ?? 1; },
      get unit() { return self.inner?.settings.unit ?? 'on-off'; },
      kwAt: (s: number) => (self.inner ? self.inner.settings.kwAt(s) : s <= 0 ? 0 : self.o.ratedKw ?? 0),
    };
  }

  /** the config `driver`: the identified family's, `auto` until then */
  get driver(): string {
    return this.inner?.driver ?? 'auto';
  }

  /** the family driver, once identified (the doctor reads its details) */
  get delegate(): NetworkMiner | undefined {
    return this.inner;
  }

  async start(): Promise<void> {
    this.closed = false;
    if (this.inner) return this.inner.start();
    await this.identifyOnce();
  }

  stop(): Promise<void> {
    if (this.inner) return this.inner.stop();
    this.retrySoon();
    return Promise.reject(this.unidentified('stop'));
  }

  set(setting: number): Promise<void> {
    if (this.inner) return this.inner.set(setting);
    this.retrySoon();
    return Promise.reject(this.unidentified(`set ${setting}`));
  }

  status(): MinerStatus {
    if (this.inner) return this.inner.status();
    // no reading of its own: 0 kW, not measured (the grid meter still sees whatever it draws)
    return { id: this.id, on: false, kw: 0, kwMeasured: false, ths: NaN, tempC: NaN, state: this.state, setting: 0, fault: this.fault, counters: { ...this.counters } };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.timer?.cancel();
    this.timer = undefined;
    this.abort?.abort();
    await this.probing;
    await this.inner?.close();
  }

  private unidentified(what: string): HashflexError {
    return new HashflexError(`miner ${this.id}: ${what} not sent: ${this.fault}`, ErrorCode.DeviceUnresponsive);
  }

  /** one probe and, if it identifies the host, the family driver built and started */
  private identifyOnce(): Promise<void> {
    if (!this.probing) this.probing = this.attempt().finally(() => { this.probing = undefined; });
    return this.probing;
  }

  private async attempt(): Promise<void> {
    this.timer?.cancel();
    this.timer = undefined;
    this.attempts++;
    this.abort = new AbortController();
    let r: ProbeResult;
    try {
      r = await this.probe(this.o.host, { identify: this.identify, timeoutMs: this.o.timeoutMs, ports: { api: this.o.ports.api, web: this.o.ports.web }, signal: this.abort.signal });
    } catch (e) {
      return this.failed(`not identified yet: probe failed (${(e as Error).message})`, 'unknown');
    } finally {
      this.abort = undefined;
    }
    this.counters.requests++;
    if (this.closed) return;
    const id = r.identity;
    if (!id) {
      const how = `4028 ${r.api}, web ${r.web === 'http' ? `HTTP ${r.evidence.web?.status}` : r.web}`;
      return answered(r)
        ? this.failed(`not identified yet: ${this.o.host} answers but as no miner family known (${how})`, 'unknown')
        : this.failed(`not identified yet: ${this.o.host} does not answer (${how})`, 'unreachable');
    }
    let inner: NetworkMiner;
    try {
      inner = this.build(id.driver as MinerDriver);
    } catch (e) {
      // identified as a family this build has no driver for: that will not change by retrying soon
      return this.failed(`identified as ${id.make} ${id.model} (${id.firmware}) but: ${(e as Error).message}`, 'unknown');
    }
    this.identity = id;
    this.inner = inner;
    this.log.info({ make: id.make, model: id.model, firmware: id.firmware, family: id.driver, attempts: this.attempts }, 'identified');
    await inner.start();
  }

  private failed(fault: string, state: MinerStatus['state']): void {
    if (fault !== this.fault) this.log.warn({ fault }, 'miner not identified');
    this.fault = fault;
    this.state = state;
    this.schedule();
  }

  private schedule(): void {
    if (this.closed || this.inner) return;
    this.timer?.cancel();
    const backoff = Math.min(RETRY_MAX_MS, this.o.pollMs * 2 ** Math.min(6, Math.max(0, this.attempts - 1)));
    this.timer = this.clock.setTimeout(() => { this.timer = undefined; void this.identifyOnce(); }, Math.max(this.o.pollMs, backoff));
  }

  /** a command on an unidentified miner: probe again now rather than at the next retry */
  private retrySoon(): void {
    if (this.closed || this.inner || this.probing) return;
    void this.identifyOnce();
  }
}
