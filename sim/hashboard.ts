import { EventEmitter } from 'node:events';
import { realClock, type Clock, type Timer } from '../agent/clock';
import {
  CMD_INACTIVE, CMD_READ, CMD_SETADDRESS, CMD_WRITE, GROUP_ALL, REG_CHIP_ID, REG_DOMAIN0_COUNT, REG_PLL0,
  REG_TICKET_MASK, REG_TOTAL_COUNT, decodeCommand, difficultyOfMask, nonceResponse, pllFor, pllMhz, regResponse,
  type Command,
} from '../drivers/hashboard/codec';
import { commandSplitter } from '../drivers/hashboard/framing';
import { MODELS, ghsPerChip, type ChipModel, type ModelSpec } from '../drivers/hashboard/models';
import type { SimBoard } from './plant';
import type { SimWire } from './wire';

/**
 * A simulated BM13xx chain on the far side of a SimWire. State: per-chip address, registers,
 * active flag and hash counters; behaviours: answer chip-id and register reads, take addresses
 * after chain-inactive, take register writes (PLL 0x08 sets the clock), start hashing on work,
 * return nonces at the rate the clock and ticket mask give. Faults are switches a test flips.
 * The chain only lives while its board's enable line is high; dropping it resets every chip.
 */
export interface SimChainFaults {
  /** chips hear but never answer */
  silent: boolean;
  /** random bytes before every burst of replies */
  garbage: boolean;
  /** every reply leaves with a wrong CRC */
  badCrc: boolean;
  /** replies leave this many ms late (on the sim's clock) */
  slowMs: number;
}

export interface SimChip {
  addr: number;
  regs: Map<number, number>;
  active: boolean;
  /** difficulty-1 shares done (register 0x8C counts these) */
  shares: number;
  nonceDebt: number;
}

export interface SimChainOptions {
  wire: SimWire;
  board: SimBoard;
  model: ChipModel;
  chips: number;
  clock?: Clock;
  /** nonce emission period, ms (default 250) */
  tickMs?: number;
}

/** Events: 'frame' (Command) for every good frame from the agent, in order. */
export interface SimChain extends EventEmitter {
  readonly faults: SimChainFaults;
  readonly chips: readonly SimChip[];
  readonly stats: { frames: number; crcErrors: number; resyncs: number; noncesSent: number };
  close(): void;
}

/** the PLL setting chips wake up with (ESP-Miner starts every ramp from 56.25 MHz) */
export const RESET_MHZ = 56.25;
/** share difficulty before any ticket mask is written */
const RESET_DIFFICULTY = 256;
const POWER = Symbol('hashflex.simBoard.power');

type PowerAware = SimBoard & { [POWER]?: EventEmitter };

/**
 * A plant board whose silicon follows `model`: a little hungrier than the driver's nominal
 * curve and slightly super-linear, so the agent's kW estimate is an estimate, as on real boards.
 * Its enable line is observable, so a chain resets at the instant power drops.
 */
export function simBoard(id: string, model: ChipModel, chips: number): SimBoard {
  const spec = MODELS[model];
  const power = new EventEmitter();
  let enabled = true;
  const b: PowerAware = {
    id, chips, active: false, mhz: RESET_MHZ, tempC: 25,
    get enabled() { return enabled; },
    set enabled(v: boolean) {
      const was = enabled;
      enabled = v;
      if (was !== v) power.emit('change', v);
    },
    wattsPerChip: (mhz: number) => (mhz > 0 ? spec.wattsAtDefault * 1.03 * (0.12 + 0.88 * (mhz / spec.defaultMhz) ** 1.05) : 0),
  };
  Object.defineProperty(b, POWER, { value: power, enumerable: false });
  return b;
}

export function startSimChain(opts: SimChainOptions): SimChain {
  return new Chain(opts);
}

class Chain extends EventEmitter implements SimChain {
  readonly faults: SimChainFaults = { silent: false, garbage: false, badCrc: false, slowMs: 0 };
  readonly chips: SimChip[] = [];
  readonly stats = { frames: 0, crcErrors: 0, resyncs: 0, noncesSent: 0 };
  private readonly spec: ModelSpec;
  private readonly clock: Clock;
  private readonly splitter;
  private readonly ticker: Timer;
  private readonly resetPll: number;
  private nextToAddress = 0;
  private jobId = 0;
  private lastTick: number;
  private powered: boolean;
  private closed = false;
  private nonceSeq = 0;

  constructor(private readonly o: SimChainOptions) {
    super();
    this.spec = MODELS[o.model];
    this.clock = o.clock ?? realClock;
    this.resetPll = pllFor(RESET_MHZ, this.spec).value;
    for (let i = 0; i < o.chips; i++) this.chips.push({ addr: 0, regs: new Map(), active: false, shares: 0, nonceDebt: 0 });
    this.reset();
    this.powered = o.board.enabled;
    this.splitter = commandSplitter((f) => decodeCommand(f) !== undefined, (f) => this.onCommand(decodeCommand(f)!));
    o.wire.on('data', this.onData);
    (o.board as PowerAware)[POWER]?.on('change', this.onPower);
    this.lastTick = this.clock.now();
    this.ticker = this.clock.setInterval(() => this.tick(), o.tickMs ?? 250);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.ticker.cancel();
    this.o.wire.off('data', this.onData);
    (this.o.board as PowerAware)[POWER]?.off('change', this.onPower);
  }

  /** power-on state: inactive, addresses cleared, default PLL, no ticket mask, counters zero */
  private reset(): void {
    for (const c of this.chips) {
      c.addr = 0; c.active = false; c.shares = 0; c.nonceDebt = 0;
      c.regs.clear();
      c.regs.set(REG_PLL0, this.resetPll);
    }
    this.nextToAddress = 0;
    this.syncBoard();
  }

  private readonly onPower = (on: boolean): void => {
    if (!on) this.reset();
    this.powered = on;
    this.lastTick = this.clock.now();
    this.syncBoard();
  };

  private checkPower(): boolean {
    const on = this.o.board.enabled;
    if (on !== this.powered) this.onPower(on); // boards not made by simBoard(): polled
    return on;
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.closed || !this.checkPower()) return; // unpowered chips hear nothing
    const s = this.splitter.stats;
    this.splitter.push(chunk);
    this.stats.frames = s.frames; this.stats.crcErrors = s.crcErrors; this.stats.resyncs = s.resyncs;
  };

  private onCommand(cmd: Command): void {
    this.emit('frame', cmd);
    if (cmd.job) {
      this.jobId = cmd.data[0] ?? 0;
      for (const c of this.chips) c.active = true;
      this.syncBoard();
      return;
    }
    const op = cmd.header & 0x0f;
    const all = (cmd.header & GROUP_ALL) !== 0;
    const [addr, reg] = cmd.data;
    const targets = all ? this.chips : this.chips.filter((c) => c.addr === addr);
    if (op === CMD_INACTIVE) {
      for (const c of this.chips) c.active = false;
      this.nextToAddress = 0;
    } else if (op === CMD_SETADDRESS) {
      const c = this.chips[this.nextToAddress++];
      if (c) c.addr = addr;
    } else if (op === CMD_WRITE && cmd.data.length >= 6) {
      const value = cmd.data.readUInt32BE(2);
      for (const c of targets) c.regs.set(reg, value);
    } else if (op === CMD_READ) {
      this.reply(Buffer.concat(targets.map((c) => regResponse(this.regValue(c, reg), c.addr, reg))));
    }
    this.syncBoard();
  }

  private regValue(c: SimChip, reg: number): number {
    if (reg === REG_CHIP_ID) return (this.spec.chipId << 16) >>> 0;
    if (reg === REG_TOTAL_COUNT) return Math.floor(c.shares) % 2 ** 32;
    if (reg >= REG_DOMAIN0_COUNT && reg < REG_TOTAL_COUNT) return Math.floor(c.shares / 4) % 2 ** 32;
    return c.regs.get(reg) ?? 0;
  }

  private chipMhz(c: SimChip): number {
    return pllMhz(c.regs.get(REG_PLL0) ?? this.resetPll);
  }

  private syncBoard(): void {
    const b = this.o.board;
    const active = this.chips.filter((c) => c.active);
    b.active = this.powered && active.length > 0;
    b.mhz = this.chipMhz(this.chips[0]);
  }

  /** hash: count shares, emit nonces at hashrate / (difficulty · 2^32) per chip */
  private tick(): void {
    const now = this.clock.now();
    const dt = (now - this.lastTick) / 1000;
    this.lastTick = now;
    if (!this.checkPower() || dt <= 0) return;
    const out: Buffer[] = [];
    for (const c of this.chips) {
      if (!c.active) continue;
      const hashes = ghsPerChip(this.spec, this.chipMhz(c)) * 1e9 * dt;
      c.shares += hashes / 2 ** 32;
      const mask = c.regs.get(REG_TICKET_MASK);
      c.nonceDebt += hashes / 2 ** 32 / (mask === undefined ? RESET_DIFFICULTY : difficultyOfMask(mask));
      for (; c.nonceDebt >= 1; c.nonceDebt--) {
        const core = this.nonceSeq++ & 0x7f;
        out.push(nonceResponse(((core << 25) | (c.addr << 17) | (this.nonceSeq & 0x1ffff)) >>> 0, this.jobId));
      }
    }
    this.stats.noncesSent += out.length;
    if (out.length) this.reply(Buffer.concat(out));
  }

  private reply(bytes: Buffer): void {
    const f = this.faults;
    if (f.silent || bytes.length === 0) return;
    if (f.badCrc) for (let i = 10; i < bytes.length; i += 11) bytes[i] ^= 0x01;
    if (f.garbage) bytes = Buffer.concat([Buffer.from([0x13, 0xaa, 0x00, 0x55, 0xfe, 0xaa, 0x37]), bytes]);
    if (f.slowMs > 0) this.clock.setTimeout(() => this.write(bytes), f.slowMs);
    else this.write(bytes);
  }

  private write(bytes: Buffer): void {
    if (!this.closed && this.o.board.enabled) this.o.wire.write(bytes);
  }
}

