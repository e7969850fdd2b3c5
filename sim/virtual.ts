import { EventEmitter } from 'node:events';
import type { Clock, Timer } from '../agent/clock';
import { newCounters, type BoardStatus, type FanStatus, type Hashboard, type IoBoard, type Meter, type MinerSettings, type MinerStatus, type NetworkMiner } from '../agent/hardware';
import type { SimMachine } from './miners/machine';
import { MODELS, wattsPerChip, type ChipModel, type ModelSpec } from '../drivers/hashboard/models';
import type { Plant, SimBoard } from './plant';

/**
 * In-process stand-ins for the drivers, acting straight on the plant and on an injected clock.
 * They implement the agent's hardware interfaces (types only), so the real Site and control
 * core run a 24-hour scenario in seconds of virtual time: the time-leap rig behind
 * `hashflex sim --speed` and `hashflex bench surplus`. Over real wires, see sim/site.ts.
 */

/** Switches a scenario flips on the stand-ins, as on the wire rig's sim devices. */
export interface VirtualMeterFaults {
  /** the meter stops answering (sim meter `faults.timeout`) */
  timeout: boolean;
}

export class VirtualMeter extends EventEmitter implements Meter {
  readonly id = 'grid';
  readonly counters = newCounters();
  readonly faults: VirtualMeterFaults = { timeout: false };
  private timer?: Timer;
  private lastAt: number;
  private stale = false;
  /**
   * @param staleMs no answer for this long emits 'stale' once, as the real driver does
   * @param refresh called before every reading, so the rig can set the plant to this instant
   */
  constructor(private readonly plant: Plant, private readonly clock: Clock, private readonly pollMs: number,
    private readonly staleMs = Infinity, private readonly refresh?: (now: number) => void) {
    super();
    this.lastAt = clock.monotonic();
  }

  async start(): Promise<void> {
    this.lastAt = this.clock.monotonic();
    this.timer = this.clock.setInterval(() => this.poll(), this.pollMs);
  }

  private poll(): void {
    // staleness on the monotonic clock, as the real driver: a wall-clock step is no silence
    const now = this.clock.monotonic();
    this.counters.requests++;
    if (this.faults.timeout) {
      this.counters.timeouts++;
      this.emit('fault', new Error('meter: no reply (timeout)'));
      if (!this.stale && now - this.lastAt >= this.staleMs) {
        this.stale = true;
        this.emit('stale');
      }
      return;
    }
    this.refresh?.(this.clock.now());
    this.counters.frames++;
    this.lastAt = now;
    this.stale = false;
    const p = this.plant;
    this.emit('sample', { at: this.clock.now(), mono: now, hz: p.hz, kw: p.gridKw(), importKwh: p.importKwh, exportKwh: p.exportKwh });
  }

  async stop(): Promise<void> {
    this.timer?.cancel();
  }
}

/** A chain that ramps like the real driver (6.25 MHz per 100 ms) and trips at once. */
export interface VirtualBoardFaults {
  /** noise before every reply (sim chain `faults.garbage`): counted as resyncs, replies still parse */
  garbage: boolean;
  /** the chain hears but never answers (sim chain `faults.silent`) */
  silent: boolean;
}

export class VirtualBoard implements Hashboard {
  readonly minMhz: number;
  readonly maxMhz: number;
  readonly faults: VirtualBoardFaults = { garbage: false, silent: false };
  readonly counters = newCounters();
  private ramp?: Timer;
  private poller?: Timer;
  private target = 0;
  /** callers of setFrequency waiting for the ramp: a trip or a newer target settles them */
  private waiters: (() => void)[] = [];
  /** looked up once: control asks kwAt() thousands of times a second in virtual time */
  private readonly spec: ModelSpec;
  constructor(private readonly b: SimBoard, private readonly model: ChipModel, private readonly clock: Clock) {
    this.spec = MODELS[model];
    this.minMhz = this.spec.minMhz;
    this.maxMhz = this.spec.defaultMhz;
  }

  get id(): string {
    return this.b.id;
  }

  async start(): Promise<void> {
    // the real driver polls health about once a second (boards[].poll_ms): that is where faults show
    this.poller ??= this.clock.setInterval(() => this.poll(), 1000);
    if (!this.b.enabled) throw new Error(`${this.b.id}: no answer (board unpowered)`);
    if (this.faults.silent) throw new Error(`${this.b.id}: unresponsive (no reply from the chain)`);
    this.b.active = false;
    this.b.mhz = this.minMhz;
  }

  private poll(): void {
    if (!this.b.enabled) return;
    this.counters.requests++;
    if (this.faults.silent) { this.counters.timeouts++; return; }
    this.counters.frames++;
    if (this.faults.garbage) { this.counters.resyncs++; this.counters.crcErrors++; }
  }

  setFrequency(mhz: number): Promise<void> {
    if (this.faults.silent && mhz > 0) return Promise.reject(new Error(`${this.b.id}: unresponsive (no reply from the chain)`));
    this.target = mhz;
    this.ramp?.cancel();
    const done = new Promise<void>((resolve) => this.waiters.push(resolve));
    const step = () => {
      const b = this.b;
      if (!b.enabled) { this.settle(); return; }
      b.active = this.target > 0;
      const goal = this.target > 0 ? this.target : this.minMhz;
      const next = goal > b.mhz ? Math.min(goal, b.mhz + 6.25) : Math.max(goal, b.mhz - 6.25);
      b.mhz = next;
      if (next === goal) this.settle();
      else this.ramp = this.clock.setTimeout(step, 100);
    };
    step();
    return done;
  }

  private settle(): void {
    this.ramp = undefined;
    for (const w of this.waiters.splice(0)) w();
  }

  async trip(): Promise<void> {
    this.ramp?.cancel();
    this.settle();
    this.target = 0;
    this.b.active = false;
    this.b.mhz = this.minMhz;
  }

  kwAt(mhz: number): number {
    return (this.b.chips * wattsPerChip(this.spec, mhz)) / 1000;
  }

  status(): BoardStatus {
    const on = this.b.enabled && this.b.active;
    const fault = this.faults.silent && this.b.enabled ? 'unresponsive: no reply from the chain' : undefined;
    return { id: this.id, on, mhz: on ? this.b.mhz : 0, kw: on ? this.kwAt(this.b.mhz) : 0, tempC: this.b.tempC, counters: { ...this.counters }, ...(fault ? { fault } : {}) };
  }

  async close(): Promise<void> {
    this.ramp?.cancel();
    this.poller?.cancel();
  }
}

export interface VirtualIoFaults {
  /** pull the cable: outputs float (enables low, fans full), the agent sees the board lost */
  unplug(): void;
  /** plug it back in: the board answers again and the agent reconfigures it */
  replug(): void;
}

/** The I/O board: enable lines power plant boards, fan duty drives plant fans, relay is read on every tick. */
export class VirtualIo extends EventEmitter implements IoBoard {
  readonly faults: VirtualIoFaults;
  private relay = false;
  private timer?: Timer;
  private plugged = true;
  /** @param relayPollMs how often the relay contact is looked at; 0 = only on poke() */
  constructor(private readonly plant: Plant, private readonly clock: Clock, private readonly relayPollMs = 10) {
    super();
    this.faults = {
      unplug: () => {
        if (!this.plugged) return;
        this.plugged = false;
        // as sim/firmata.ts: pull-downs hold the enable lines low; open PWM inputs run fans full
        for (const b of this.plant.boards.values()) b.enabled = false;
        for (const f of this.plant.fans.values()) f.duty = 1;
        this.emit('fault', new Error('I/O board lost: port closed'));
      },
      replug: () => {
        if (this.plugged) return;
        this.plugged = true;
        this.relay = this.plant.relayActive;
        this.emit('ready');
      },
    };
  }

  get connected(): boolean {
    return this.plugged;
  }

  get relayActive(): boolean {
    return this.relay;
  }

  async start(): Promise<void> {
    this.relay = this.plant.relayActive;
    if (this.relayPollMs > 0) this.timer = this.clock.setInterval(() => this.poke(), this.relayPollMs);
    this.emit('ready');
  }

  /** look at the relay contact now (a rig that knows when it changes calls this at the edge) */
  poke(): void {
    if (this.plugged && this.plant.relayActive !== this.relay) {
      this.relay = this.plant.relayActive;
      this.emit('relay', this.relay);
    }
  }

  setEnable(boardId: string, on: boolean): void {
    if (!this.plugged) return;
    const b = this.plant.boards.get(boardId);
    if (b) b.enabled = on;
  }

  async shedEnables(): Promise<void> {
    if (!this.plugged) return;
    for (const b of this.plant.boards.values()) b.enabled = false;
  }

  setFanDuty(fanId: string, duty: number): void {
    if (!this.plugged) return;
    const f = this.plant.fans.get(fanId);
    if (f) f.duty = duty;
  }

  fans(): FanStatus[] {
    return [...this.plant.fans.values()].map((f) => ({ id: f.id, duty: f.duty, rpm: f.rpm }));
  }

  temperatures(): Record<string, number> {
    return {};
  }

  async close(): Promise<void> {
    this.timer?.cancel();
  }
}

/** Switches a test flips on a stand-in network miner. */
export interface VirtualMinerFaults {
  /** the API refuses every command and the miner stops answering polls */
  down: boolean;
}

/** What a stand-in network miner offers: its family's scale (default a power percent 20..100). */
export interface VirtualMinerOptions {
  /** the config `driver` it stands in for (default `virtual`) */
  driver?: string;
  settings?: MinerSettings;
}

/**
 * A network miner with a power-percent API (as a Whatsminer's) or, with `settings`, any family's
 * scale (sim/miners/fleet.ts familySettings), acting straight on a plant machine
 * (sim/miners/machine.ts) with the API's answer `apiMs` away: the time-leap rig's and the
 * control tests' stand-in for drivers/miner/. Over real sockets, see sim/miners/.
 */
export class VirtualMiner implements NetworkMiner {
  readonly driver: string;
  readonly settings: MinerSettings;
  readonly faults: VirtualMinerFaults = { down: false };
  readonly counters = newCounters();
  /** every command the driver was given, in order */
  readonly commands: string[] = [];
  /** when (the clock's now(), ms) each stop() was carried out by the "firmware" */
  readonly stops: number[] = [];
  private setting: number;

  constructor(readonly machine: SimMachine, private readonly clock: Clock, private readonly apiMs = 20, o: VirtualMinerOptions = {}) {
    const rated = machine.spec.ratedKw;
    this.driver = o.driver ?? 'virtual';
    this.settings = o.settings ?? { min: 20, max: 100, step: 5, unit: 'percent', kwAt: (pct) => (pct <= 0 ? machine.spec.standbyKw : (rated * pct) / 100) };
    this.setting = this.settings.max;
  }

  get id(): string {
    return this.machine.id;
  }

  async start(): Promise<void> {}

  stop(): Promise<void> {
    this.commands.push('stop');
    return this.answer(() => {
      this.setting = 0;
      this.stops.push(this.clock.now());
      if (this.stops.length > 1000) this.stops.shift();
      this.machine.sleep('power_off');
    });
  }

  set(setting: number): Promise<void> {
    this.commands.push(`set ${setting}`);
    return this.answer(() => {
      this.setting = setting;
      if (setting <= 0) this.machine.sleep('power_off');
      else this.machine.run(this.settings.kwAt(setting), `power ${setting} ${this.settings.unit}`);
    });
  }

  status(): MinerStatus {
    const m = this.machine;
    const state = this.faults.down ? 'unreachable' : m.state === 'sleeping' ? 'sleeping' : m.state;
    return {
      id: this.id, on: m.state === 'hashing' || m.state === 'waking', kw: m.kw, kwMeasured: true, ths: m.ths, tempC: m.tempC,
      state, setting: this.setting, counters: { ...this.counters }, ...(this.faults.down ? { fault: 'unreachable: no answer on its API' } : {}),
    };
  }

  async close(): Promise<void> {}

  private answer(apply: () => void): Promise<void> {
    this.counters.requests++;
    return new Promise((resolve, reject) => this.clock.setTimeout(() => {
      if (this.faults.down) { this.counters.timeouts++; reject(new Error(`${this.id}: no answer (timeout)`)); return; }
      this.counters.frames++;
      apply();
      resolve();
    }, this.apiMs));
  }
}
