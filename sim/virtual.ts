import { EventEmitter } from 'node:events';
import type { Clock, Timer } from '../agent/clock';
import { newCounters, type BoardStatus, type FanStatus, type Hashboard, type IoBoard, type Meter } from '../agent/hardware';
import { MODELS, wattsPerChip, type ChipModel } from '../drivers/hashboard/models';
import type { Plant, SimBoard } from './plant';

/**
 * In-process stand-ins for the drivers, acting straight on the plant and on an injected clock.
 * They implement the agent's hardware interfaces (types only), so the real Site and control
 * core run a 24-hour scenario in seconds of virtual time: the time-leap rig behind
 * `hashflex sim --speed` and `hashflex bench surplus`. Over real wires, see sim/site.ts.
 */

export class VirtualMeter extends EventEmitter implements Meter {
  readonly id = 'grid';
  readonly counters = newCounters();
  private timer?: Timer;
  constructor(private readonly plant: Plant, private readonly clock: Clock, private readonly pollMs: number) {
    super();
  }

  async start(): Promise<void> {
    this.timer = this.clock.setInterval(() => {
      this.counters.requests++;
      this.counters.frames++;
      const p = this.plant;
      this.emit('sample', { at: this.clock.now(), hz: p.hz, kw: p.gridKw(), importKwh: p.importKwh, exportKwh: p.exportKwh });
    }, this.pollMs);
  }

  async stop(): Promise<void> {
    this.timer?.cancel();
  }
}

/** A chain that ramps like the real driver (6.25 MHz per 100 ms) and trips at once. */
export class VirtualBoard implements Hashboard {
  readonly minMhz: number;
  readonly maxMhz: number;
  private ramp?: Timer;
  private target = 0;
  /** callers of setFrequency waiting for the ramp: a trip or a newer target settles them */
  private waiters: (() => void)[] = [];
  constructor(private readonly b: SimBoard, private readonly model: ChipModel, private readonly clock: Clock) {
    this.minMhz = MODELS[model].minMhz;
    this.maxMhz = MODELS[model].defaultMhz;
  }

  get id(): string {
    return this.b.id;
  }

  async start(): Promise<void> {
    if (!this.b.enabled) throw new Error(`${this.b.id}: no answer (board unpowered)`);
    this.b.active = false;
    this.b.mhz = this.minMhz;
  }

  setFrequency(mhz: number): Promise<void> {
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
    return (this.b.chips * wattsPerChip(MODELS[this.model], mhz)) / 1000;
  }

  status(): BoardStatus {
    const on = this.b.enabled && this.b.active;
    return { id: this.id, on, mhz: on ? this.b.mhz : 0, kw: on ? this.kwAt(this.b.mhz) : 0, tempC: this.b.tempC, counters: newCounters() };
  }

  async close(): Promise<void> {
    this.ramp?.cancel();
  }
}

/** The I/O board: enable lines power plant boards, fan duty drives plant fans, relay is read on every tick. */
export class VirtualIo extends EventEmitter implements IoBoard {
  readonly connected = true;
  private relay = false;
  private timer?: Timer;
  constructor(private readonly plant: Plant, private readonly clock: Clock) {
    super();
  }

  get relayActive(): boolean {
    return this.relay;
  }

  async start(): Promise<void> {
    this.relay = this.plant.relayActive;
    this.timer = this.clock.setInterval(() => {
      if (this.plant.relayActive !== this.relay) {
        this.relay = this.plant.relayActive;
        this.emit('relay', this.relay);
      }
    }, 10);
    this.emit('ready');
  }

  setEnable(boardId: string, on: boolean): void {
    const b = this.plant.boards.get(boardId);
    if (b) b.enabled = on;
  }

  setFanDuty(fanId: string, duty: number): void {
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
