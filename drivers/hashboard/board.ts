import type { Clock, Timer } from '../../agent/clock';
import { ErrorCode, HashflexError } from '../../agent/errors';
import { newCounters, type BoardStatus, type Hashboard } from '../../agent/hardware';
import { logger } from '../../agent/log';
import { openTransport } from '../transport';
import {
  chainInactive, pllFor, REG_CHIP_ID, REG_PLL0, REG_TICKET_MASK, REG_TOTAL_COUNT,
  setAddress, ticketMask, workFrame, writeReg,
} from './codec';
import { CounterRate, NonceRate } from './hashrate';
import { ChainLink, type NonceReply } from './link';
import { MODELS, ghsPerChip, wattsPerChip, type ModelSpec } from './models';
import { DEFAULTS, type HashboardOptions } from './options';

export interface HashboardStatus extends BoardStatus {
  model: string;
  /** chips that answered enumeration (0 before the first bring-up) */
  chipsFound: number;
  /** frequency last asked for with setFrequency (0 = stopped or tripped) */
  targetMhz: number;
  /** hash rate from returned nonces / from the chips' hash counters, GH/s */
  ghs: number;
  ghsCounters: number;
  /** what the model's chips should do at the present frequency, GH/s */
  nominalGhs: number;
}

/** off: enable line dropped by a trip, link kept; down: faulted or powering up, retrying */
type Phase = 'idle' | 'starting' | 'ready' | 'down' | 'off' | 'closed';

/**
 * One BM13xx chain. Desired state (target MHz) is reconciled with the chain: start-up and every
 * recovery enumerate the chips, send chain-inactive and assign addresses, leave the chain
 * stopped, then ramp back to the last requested frequency. A trip cancels any ramp and writes
 * chain-inactive plus the lowest PLL setting at once.
 */
export class BoardDriver implements Hashboard {
  readonly id: string;
  readonly minMhz: number;
  readonly maxMhz: number;
  readonly counters = newCounters();
  private readonly spec: ModelSpec;
  private readonly o: Required<Omit<HashboardOptions, 'temperature' | 'open' | 'minMhz' | 'maxMhz' | 'power'>>;
  private readonly log;
  private readonly tripBytes: Buffer;
  private link?: ChainLink;
  private phase: Phase = 'idle';
  private starting?: Promise<void>;
  private gen = 0;
  private found = 0;
  private target = 0;
  private mhz = 0;
  private hashing = false;
  /** state of the enable line as we last drove it (always true without a power option) */
  private powered = true;
  private fault?: string;
  private failures = 0;
  private jobId = 0;
  private hashingSince = 0;
  private rampTimer?: Timer;
  private pollTimer?: Timer;
  private jobTimer?: Timer;
  private retryTimer?: Timer;
  private rampWaiters: Array<() => void> = [];
  private readonly nonces = new NonceRate();
  private readonly hashCounters = new CounterRate();

  constructor(private readonly opts: HashboardOptions, private readonly clock: Clock) {
    this.spec = MODELS[opts.model];
    if (!this.spec) throw new HashflexError(`unknown model ${opts.model}`, ErrorCode.ConfigInvalid);
    if (!(opts.chips >= 1 && opts.chips <= 256)) throw new HashflexError(`chips must be 1..256`, ErrorCode.ConfigInvalid);
    this.id = opts.id;
    this.minMhz = opts.minMhz ?? this.spec.minMhz;
    this.maxMhz = opts.maxMhz ?? this.spec.defaultMhz;
    if (!(this.minMhz >= this.spec.minMhz && this.minMhz <= this.maxMhz && this.maxMhz <= this.spec.maxOptionMhz)) {
      throw new HashflexError(`${opts.id}: frequency range ${this.minMhz}..${this.maxMhz} MHz outside ${this.spec.minMhz}..${this.spec.maxOptionMhz}`, ErrorCode.ConfigInvalid);
    }
    const { id, model, serial, chips } = opts;
    this.o = { ...DEFAULTS, ...stripUndefined(opts), id, model, serial, chips } as typeof this.o;
    this.log = logger('hashboard').child({ board: opts.id });
    this.tripBytes = Buffer.concat([chainInactive(), writeReg(REG_PLL0, pllFor(this.minMhz, this.spec).value)]);
  }

  /** a register read is waiting for the chain's replies (lets tests wait for real I/O) */
  get busy(): boolean {
    return this.link?.busy ?? false;
  }

  kwAt(mhz: number): number {
    return ((this.found || this.opts.chips) * wattsPerChip(this.spec, mhz)) / 1000;
  }

  /**
   * Open the link and bring the chain up, leaving it stopped. Calling it again re-enumerates
   * (after the agent power-cycled the board, the chain comes back reset). Rejects if this
   * attempt fails; the driver then keeps retrying by itself and reports the fault meanwhile.
   */
  start(): Promise<void> {
    if (this.phase === 'closed') return Promise.reject(new HashflexError(`${this.id} is closed`, ErrorCode.TransportClosed));
    if (this.starting) return this.starting;
    this.phase = 'starting';
    this.retryTimer?.cancel();
    this.starting = (async () => {
      try {
        if (this.opts.power) {
          this.opts.power(true);
          this.powered = true;
          await new Promise<void>((r) => { this.retryTimer = this.clock.setTimeout(r, this.o.powerOnMs); });
        }
        await this.connect();
      } catch (e) {
        this.goDown(e instanceof Error ? e.message : String(e));
        throw e;
      } finally {
        this.starting = undefined;
      }
    })();
    return this.starting;
  }

  setFrequency(mhz: number): Promise<void> {
    this.target = mhz > 0 ? Math.min(this.maxMhz, Math.max(this.minMhz, mhz)) : 0;
    const done = new Promise<void>((r) => this.rampWaiters.push(r));
    if (this.phase === 'ready') this.rampNow();
    else if (this.phase === 'off' && this.target > 0) this.powerUp();
    else this.settle(); // not up: the ramp runs after (re)connection; don't hold the caller
    return done;
  }

  trip(): Promise<void> {
    this.target = 0;
    this.rampTimer?.cancel();
    this.rampTimer = undefined;
    this.stopHashingState();
    const link = this.link;
    const sent = link?.isOpen ? link.send(this.tripBytes).catch(() => undefined) : Promise.resolve();
    if (this.opts.power && this.phase !== 'closed') {
      if (this.phase === 'idle' || this.phase === 'starting') {
        this.opts.power(false); // start() raises it again
        this.powered = false;
        this.settle();
        return sent;
      }
      // the bytes are already queued to the OS: chain-inactive, then the power line
      this.opts.power(false);
      this.powered = false;
      this.enterOff();
    }
    this.settle();
    return sent;
  }

  status(): HashboardStatus {
    const now = this.clock.now();
    const on = this.hashing && this.phase === 'ready';
    const mhz = on ? this.mhz : 0;
    return {
      id: this.id,
      model: this.spec.model,
      on,
      mhz,
      kw: on ? this.kwAt(mhz) : 0,
      tempC: this.opts.temperature?.() ?? NaN,
      ...(this.fault ? { fault: this.fault } : {}),
      counters: { ...this.counters },
      chipsFound: this.found,
      targetMhz: this.target,
      ghs: on ? this.nonces.ghs(now, this.o.difficulty, this.hashingSince) : 0,
      ghsCounters: on ? this.hashCounters.ghs : 0,
      nominalGhs: (this.found || this.opts.chips) * ghsPerChip(this.spec, mhz),
    };
  }

  async close(): Promise<void> {
    this.phase = 'closed';
    this.gen++;
    for (const t of [this.rampTimer, this.pollTimer, this.jobTimer, this.retryTimer]) t?.cancel();
    this.settle();
    const link = this.link;
    this.link = undefined;
    await link?.close().catch(() => undefined);
  }

  // ---- bring-up and recovery -------------------------------------------------------------

  private async connect(): Promise<void> {
    const gen = ++this.gen;
    let link = this.link;
    if (!link?.isOpen) {
      const transport = await (this.opts.open ?? openTransport)(this.opts.serial);
      if (gen !== this.gen) { await transport.close(); return; }
      const baud = 'path' in this.opts.serial ? this.opts.serial.baud ?? 115200 : 115200;
      link = new ChainLink(transport, this.clock, this.counters, 10_000 / baud);
      link.on('nonce', this.onNonce);
      link.once('close', (err: Error) => { if (this.link === link) this.onLinkLost(err); });
      this.link = link;
    }
    if (!this.powered) {
      this.enterOff(); // link back, chain unpowered: nothing to bring up until power returns
      return;
    }
    await this.bringUp(link, gen);
  }

  /** enumerate, chain inactive, assign addresses, ticket mask, park the PLL; verify addresses */
  private async bringUp(link: ChainLink, gen: number): Promise<void> {
    const ids = await link.read(REG_CHIP_ID, { expect: this.opts.chips, timeoutMs: this.o.timeoutMs });
    if (gen !== this.gen) return;
    const found = ids.replies.filter((r) => r.value >>> 16 === this.spec.chipId).length;
    if (found === 0) throw new HashflexError(`no ${this.spec.model} chips answer on ${link.transport.description}`, ErrorCode.DeviceUnresponsive);
    const interval = Math.floor(256 / found);
    const park = pllFor(this.minMhz, this.spec).value;
    const frames = [chainInactive()];
    for (let i = 0; i < found; i++) frames.push(setAddress(i * interval));
    frames.push(writeReg(REG_TICKET_MASK, ticketMask(this.o.difficulty)), writeReg(REG_PLL0, park));
    this.stopHashingState();
    await link.send(frames);
    const check = await link.read(REG_PLL0, { expect: found, timeoutMs: this.o.timeoutMs });
    if (gen !== this.gen) return;
    const addrs = new Set(check.replies.filter((r) => r.value === park).map((r) => r.addr));
    for (let i = 0; i < found; i++) {
      if (!addrs.has(i * interval)) throw new HashflexError(`chip ${i} did not take address ${i * interval}`, ErrorCode.DeviceFault);
    }
    this.found = found;
    this.phase = 'ready';
    this.failures = 0;
    this.hashCounters.clear();
    if (this.fault) this.log.info({ was: this.fault }, 'board recovered');
    this.fault = found < this.opts.chips ? `${found} of ${this.opts.chips} chips answer` : undefined;
    this.pollTimer?.cancel();
    this.pollTimer = this.clock.setInterval(() => this.poll(), this.o.pollMs);
    this.rampNow();
  }

  private onLinkLost(err: Error): void {
    this.link = undefined;
    this.goDown(`disconnected: ${err.message}`);
  }

  /** report the fault, forget chain state, retry through the clock until it comes back */
  private goDown(reason: string): void {
    if (this.phase === 'closed') return;
    if (this.fault !== reason) this.log.warn({ fault: reason }, 'board fault');
    this.fault = reason;
    this.phase = 'down';
    this.gen++;
    this.stopHashingState();
    this.rampTimer?.cancel();
    this.pollTimer?.cancel();
    this.settle();
    this.scheduleRetry();
  }

  private scheduleRetry(delayMs = this.o.retryMs): void {
    this.retryTimer?.cancel();
    this.retryTimer = this.clock.setTimeout(() => {
      if (this.phase !== 'down') return;
      const wasLinked = !!this.link;
      this.connect().then(
        () => { if (!wasLinked && this.phase !== 'down') this.counters.reconnects++; },
        (e: Error) => { if (this.phase === 'down') { this.fault = this.link ? e.message : this.fault; this.scheduleRetry(); } },
      );
    }, delayMs);
  }

  /** health check and hash counters in one read: the total-count register of every chip */
  private poll(): void {
    const link = this.link;
    const gen = this.gen;
    // a stopped chain is left alone: the agent may have cut its power, which is not a fault
    if (!link || this.phase !== 'ready' || (!this.hashing && this.target === 0)) return;
    link.read(REG_TOTAL_COUNT, { expect: this.found, timeoutMs: this.o.timeoutMs }).then(
      (r) => {
        if (gen !== this.gen) return;
        this.failures = 0;
        if (!this.addressesHold(r.replies.map((x) => x.addr))) {
          this.goDown('chain reset: chip addresses lost'); // power blip: enumerate again
          return;
        }
        if (this.fault?.startsWith('unresponsive')) this.fault = undefined;
        this.hashCounters.update(this.clock.now(), r.replies);
      },
      (e: HashflexError) => {
        if (gen !== this.gen || e.disconnected) return;
        if (++this.failures >= this.o.faultAfter) this.goDown(`unresponsive: ${this.failures} polls unanswered`);
      },
    );
  }

  /** every reply from a distinct address we assigned; a reset chain answers from 0 only */
  private addressesHold(addrs: number[]): boolean {
    const interval = Math.floor(256 / this.found);
    return new Set(addrs).size === addrs.length && addrs.every((a) => a % interval === 0 && a / interval < this.found);
  }

  /** after a trip with a power line: quiet, not faulted, waiting for the next setFrequency(>0) */
  private enterOff(): void {
    this.phase = 'off';
    this.gen++;
    this.fault = undefined;
    for (const t of [this.rampTimer, this.pollTimer, this.retryTimer]) t?.cancel();
    this.stopHashingState();
  }

  private powerUp(): void {
    this.opts.power?.(true);
    this.powered = true;
    this.phase = 'down';
    this.scheduleRetry(this.o.powerOnMs);
  }

  // ---- frequency ramp and work -------------------------------------------------------------

  /** one ramp step now, the next after rampStepMs, until the target is reached */
  private rampNow(): void {
    this.rampTimer?.cancel();
    this.rampTimer = undefined;
    const link = this.link;
    if (!link || this.phase !== 'ready') return;
    const frames: Buffer[] = [];
    if (this.target > 0 && !this.hashing) {
      // start from the floor: clock first, then work, which makes the chips active
      this.mhz = this.minMhz;
      frames.push(writeReg(REG_PLL0, pllFor(this.mhz, this.spec).value), this.nextJob());
      this.hashing = true;
      this.hashingSince = this.clock.now();
      this.nonces.clear();
      this.jobTimer?.cancel();
      this.jobTimer = this.clock.setInterval(() => this.sendWork(), this.o.jobIntervalMs);
    } else if (this.hashing) {
      const goal = this.target > 0 ? this.target : this.minMhz;
      const step = this.o.rampStepMhz;
      if (this.mhz !== goal) {
        this.mhz = goal > this.mhz ? Math.min(goal, this.mhz + step) : Math.max(goal, this.mhz - step);
        frames.push(writeReg(REG_PLL0, pllFor(this.mhz, this.spec).value));
      } else if (this.target === 0) {
        frames.push(chainInactive());
        this.stopHashingState();
      }
    }
    if (frames.length) link.send(frames).catch(() => undefined); // a lost link reports via 'close'
    const reached = this.target > 0 ? this.hashing && this.mhz === this.target : !this.hashing;
    if (reached) this.settle();
    else this.rampTimer = this.clock.setTimeout(() => this.rampNow(), this.o.rampStepMs);
  }

  private sendWork(): void {
    if (this.hashing && this.link?.isOpen) this.link.send(this.nextJob()).catch(() => undefined);
  }

  /** synthetic work: the agent sheds load, it does not mine for a pool (that stays upstream) */
  private nextJob(): Buffer {
    this.jobId = (this.jobId + 8) % 128; // ESP-Miner BM1366_send_work: ids step by 8, low bits = small core
    const t = Math.floor(this.clock.now() / 1000);
    return workFrame({
      jobId: this.jobId, startingNonce: 0, nbits: 0x1703_0ecd, ntime: t,
      merkleRoot: new Uint8Array(32).fill(this.jobId), prevHash: new Uint8Array(32), version: 0x2000_0000,
    });
  }

  private readonly onNonce = (n: NonceReply): void => {
    if (this.hashing) this.nonces.add(this.clock.now());
    void n;
  };

  private stopHashingState(): void {
    this.hashing = false;
    this.mhz = 0;
    this.jobTimer?.cancel();
    this.jobTimer = undefined;
  }

  private settle(): void {
    const w = this.rampWaiters;
    this.rampWaiters = [];
    for (const r of w) r();
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
