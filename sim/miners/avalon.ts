import type net from 'node:net';
import { SimMachine, type MachineSpec } from './machine';
import { serveRpc, type RpcServer } from './rpc-server';
import { estatsMm, type AvalonProfile, A1466 } from './avalon-profile';

export { A1466, AVALON_Q, type AvalonProfile } from './avalon-profile';

/**
 * A simulated Canaan Avalon: its cgminer-style API on TCP 4028 (the firmware's own port; tests may
 * pass another) with `version`, `summary`, `estats`/`stats` in the real `MM ID0` format
 * (avalon-profile.ts) and `ascset` softoff / softon / worklevel acting on a SimMachine:
 *  - softoff / softon take `1:<unix s>` and act when the miner's own clock reaches the stamp (at
 *    once for a stamp already past); the miner's clock may be skewed from the host's (`skewMs`), as a
 *    real miner's NTP-less clock is, and every reply's STATUS When tells it;
 *  - worklevel set within the profile's levels runs the machine at that level's power (stored
 *    while soft-off, applied at the wake); others are refused as the firmware refuses them;
 *  - ONE request at a time: a second connection is accepted and waits until the first is answered
 *    or its client has gone (Canaan A10 API manual §1: the API is single-threaded);
 *  - faults: the machine's (hang: never answers, holding the API; down: connections reset at
 *    once; garbage: bytes that are not JSON) and this family's (AvalonFaults).
 */
export interface AvalonFaults {
  /** the reply is cut short and the connection closed cleanly (no NUL) */
  truncate: boolean;
  /** half the reply, then a reset */
  closeMidReply: boolean;
  /** ascset answers cgminer's code 45: this host has no write access in the API's allow list */
  denyWrites: boolean;
  /** worklevel set is refused with this reason (the firmware refuses while it calibrates) */
  refuseLevel?: string;
  /** softoff/softon are answered "success" and never applied */
  ignoreSoftPower: boolean;
  /** ms the API thread spends on a request before answering, by command (estats, ascset, …) */
  delayMs: Partial<Record<string, number>>;
}

export interface AvalonSimOptions {
  host: string;
  /** default 4028 */
  port?: number;
  profile?: AvalonProfile;
  /** the machine the plant drives; a new one from the profile if absent */
  machine?: SimMachine;
  /** the level it starts at (default the highest) */
  level?: number;
  /** the host's wall clock (ms), default Date.now */
  now?: () => number;
  /** the miner's clock minus the host's (ms) */
  skewMs?: number;
  /** run the machine's physics on a real timer every tickMs (0: the plant or the test ticks it) */
  tickMs?: number;
}

export interface AvalonRequestLog {
  at: number;
  command: string;
  parameter?: string;
  outcome: 'answered' | 'dropped' | 'hung' | 'garbage' | 'truncated' | 'closed' | 'reset';
}

export class AvalonSim {
  readonly machine: SimMachine;
  readonly profile: AvalonProfile;
  readonly faults: AvalonFaults = { truncate: false, closeMidReply: false, denyWrites: false, ignoreSoftPower: false, delayMs: {} };
  /** every request the API took, in the order it served them */
  readonly requests: AvalonRequestLog[] = [];
  level: number;
  softOff = false;
  skewMs: number;
  /** the most requests ever in service at once (1 on a real Avalon) */
  maxInService = 0;
  private inService = 0;
  private pending?: { kind: 'softoff' | 'softon'; atMs: number };
  private pendingTimer?: NodeJS.Timeout;
  private ticker?: NodeJS.Timeout;
  private server?: RpcServer;
  private line: Promise<void> = Promise.resolve();
  private readonly nowFn: () => number;
  private readonly bootMs: number;
  private ghsAvg: number;
  softOffTimeS = 0;
  softOnTimeS = 0;

  constructor(private readonly o: AvalonSimOptions) {
    this.profile = o.profile ?? A1466;
    this.machine = o.machine ?? new SimMachine(`avalon@${o.host}`, specOf(this.profile));
    this.level = o.level ?? this.profile.levels.hi;
    this.skewMs = o.skewMs ?? 0;
    this.nowFn = o.now ?? Date.now;
    this.bootMs = this.minerNow();
    this.ghsAvg = this.machine.ths * 1000;
  }

  get host(): string {
    return this.o.host;
  }

  get port(): number {
    return this.server?.port ?? this.o.port ?? 4028;
  }

  /** the miner's own clock (ms) */
  minerNow(): number {
    return this.nowFn() + this.skewMs;
  }

  /** power (kW) the machine settles at, at a work level */
  levelKw(level: number): number {
    return this.machine.spec.ratedKw * this.share(level);
  }

  async start(): Promise<this> {
    this.server = await serveRpc(this.o.host, this.o.port ?? 4028, (req, socket) => this.serve(req, socket));
    if (this.o.tickMs) {
      let last = Date.now();
      this.ticker = setInterval(() => { const t = Date.now(); this.machine.tick(t - last); last = t; }, this.o.tickMs);
      this.ticker.unref();
    }
    return this;
  }

  async close(): Promise<void> {
    clearTimeout(this.pendingTimer);
    clearInterval(this.ticker);
    await this.server?.close();
    this.server = undefined;
  }

  /** apply a scheduled softoff/softon whose stamp the miner's clock has reached */
  runDue(): void {
    const p = this.pending;
    if (!p || p.atMs > this.minerNow()) return;
    this.pending = undefined;
    clearTimeout(this.pendingTimer);
    this.apply(p.kind);
  }

  // ---- the API, one request at a time ----

  private async serve(raw: string, socket: net.Socket): Promise<string | undefined> {
    const { command, parameter } = parseRequest(raw);
    const entry: AvalonRequestLog = { at: this.minerNow(), command, parameter, outcome: 'answered' };
    if (this.machine.faults.down) {
      entry.outcome = 'reset';
      this.requests.push(entry);
      socket.resetAndDestroy();
      return undefined;
    }
    // wait for the API thread: the previous request answered, or its client gone
    const before = this.line;
    let release!: () => void;
    this.line = new Promise<void>((r) => { release = r; });
    await before;
    const gone = new Promise<void>((r) => { if (socket.destroyed) r(); else socket.once('close', () => r()); });
    if (socket.destroyed) {
      entry.outcome = 'dropped';
      this.requests.push(entry);
      release();
      return undefined;
    }
    this.inService++;
    this.maxInService = Math.max(this.maxInService, this.inService);
    const done = () => { this.inService--; release(); };
    this.requests.push(entry);
    if (this.machine.faults.hang) {
      entry.outcome = 'hung';
      void gone.then(done);
      return undefined;
    }
    const delay = this.faults.delayMs[command] ?? 0;
    if (delay > 0) {
      let t: NodeJS.Timeout | undefined;
      await Promise.race([gone, new Promise<void>((r) => { t = setTimeout(r, delay); })]);
      clearTimeout(t);
    }
    if (socket.destroyed) {
      entry.outcome = 'dropped';
      done();
      return undefined;
    }
    this.runDue();
    const reply = this.answer(command, parameter);
    void gone.then(done);
    if (this.machine.faults.garbage) {
      entry.outcome = 'garbage';
      return '\u0013\u0088 <<miner gibberish>> \u00ff{{[';
    }
    if (this.faults.truncate) {
      entry.outcome = 'truncated';
      socket.end(reply.slice(0, Math.floor(reply.length / 2)));
      return undefined;
    }
    if (this.faults.closeMidReply) {
      entry.outcome = 'closed';
      // a reset a moment after the bytes leave (Node turns a reset in the write's own callback into a FIN)
      socket.write(reply.slice(0, Math.floor(reply.length / 2)), () => { setTimeout(() => socket.resetAndDestroy(), 5); });
      return undefined;
    }
    return reply;
  }

  private answer(command: string, parameter: string | undefined): string {
    switch (command) {
      case 'version':
        return this.reply('S', 22, 'CGMiner versions', { VERSION: [this.profile.version] });
      case 'summary':
        return this.reply('S', 11, 'Summary', { SUMMARY: [this.summary()] });
      case 'estats':
      case 'stats':
        return this.reply('S', 70, 'CGMiner stats', { STATS: this.stats() });
      case 'ascset':
        return this.ascset(parameter ?? '');
      default:
        return this.reply('E', 14, 'Invalid command');
    }
  }

  private ascset(parameter: string): string {
    const [dev, opt = '', ...rest] = parameter.split(',');
    const arg = rest.join(',');
    if (this.faults.denyWrites) return this.reply('E', 45, "Access denied to 'ascset' command");
    if (dev !== '0') return this.reply('E', 107, `Invalid ASC id ${dev} - range is 0 - 0`);
    const info = (msg: string) => this.reply('I', 118, `ASC 0 set info: ${msg}`);
    const failed = (why: string) => this.reply('E', 120, `ASC 0 set failed: ${why}`);
    switch (opt) {
      case 'help':
        return info('help|voltage|fan-spd|lcd|workmode|worklevel|work_mode_lvl|reboot|softon|softoff|filter-clean|frequency|loop|time');
      case 'softoff':
      case 'softon': {
        const m = /^([01]):(\d+)$/.exec(arg);
        if (!m) return failed(`${opt} unknown argument`);
        const atMs = Number(m[2]) * 1000;
        if (opt === 'softoff') this.softOffTimeS = Number(m[2]);
        else this.softOnTimeS = Number(m[2]);
        if (this.faults.ignoreSoftPower) return info(`success ${opt}:${arg}`);
        if (m[1] === '0') {
          this.pending = undefined;
          clearTimeout(this.pendingTimer);
        } else if (atMs <= this.minerNow()) {
          this.pending = undefined;
          clearTimeout(this.pendingTimer);
          this.apply(opt);
        } else {
          this.pending = { kind: opt, atMs };
          clearTimeout(this.pendingTimer);
          this.pendingTimer = setTimeout(() => this.runDue(), atMs - this.minerNow() + 1);
          this.pendingTimer.unref();
        }
        return info(`success ${opt}:${arg}`);
      }
      case 'worklevel': {
        if (arg === 'get') return info(`worklevel ${this.level}`);
        const m = /^set,(-?\d+)$/.exec(arg);
        if (!m) return failed('worklevel unknown argument');
        const n = Number(m[1]);
        const { lo, hi } = this.profile.levels;
        if (n < lo || n > hi) return failed(`worklevel ${n} out of range ${lo}~${hi}`);
        if (this.faults.refuseLevel) return failed(this.faults.refuseLevel);
        this.level = n;
        if (!this.softOff) this.machine.run(this.levelKw(n), `worklevel ${n}`);
        return this.reply('S', 119, 'ASC 0 set OK');
      }
      case 'work_mode_lvl':
        return info(`workmode ${this.profile.workMode} worklevel ${this.level}`);
      default:
        return failed(`Unknown option: ${opt}`);
    }
  }

  private apply(kind: 'softoff' | 'softon'): void {
    if (kind === 'softoff') {
      this.softOff = true;
      this.machine.sleep('softoff');
    } else {
      this.softOff = false;
      this.machine.run(this.levelKw(this.level), 'softon');
    }
  }

  private reply(status: string, code: number, msg: string, body: Record<string, unknown> = {}): string {
    const when = Math.floor(this.minerNow() / 1000);
    return JSON.stringify({ STATUS: [{ STATUS: status, When: when, Code: code, Msg: msg, Description: 'cgminer 4.11.1' }], ...body, id: 1 });
  }

  private summary(): Record<string, unknown> {
    const mhs = this.machine.ths * 1e6;
    return { Elapsed: this.elapsedS(), 'MHS av': this.ghsAvg * 1000, 'MHS 5s': mhs, 'MHS 1m': mhs, 'MHS 5m': mhs, 'MHS 15m': mhs, 'Found Blocks': 0, Accepted: 100, Rejected: 0, 'Hardware Errors': 0 };
  }

  private stats(): Record<string, unknown>[] {
    const m = this.machine;
    const ghs = m.ths * 1000;
    this.ghsAvg += (ghs - this.ghsAvg) * 0.1;
    const mm = estatsMm(this.profile, {
      elapsedS: this.elapsedS(),
      softOff: this.softOff,
      waking: m.state === 'waking',
      kw: m.kw,
      standbyKw: m.spec.standbyKw,
      ghs,
      ghsAvg: this.ghsAvg,
      ghsmm: m.spec.ratedThs * 1000 * this.share(this.level),
      tempC: m.tempC,
      level: this.level,
      mpoW: Math.round(this.levelKw(this.level) * 1000),
      softOffTimeS: this.softOffTimeS,
      softOnTimeS: this.softOnTimeS,
    });
    return [
      { STATS: 0, ID: 'AVA100', Elapsed: this.elapsedS(), Calls: 0, Wait: 0, Max: 0, Min: 99999999, [this.profile.mmKey]: mm, 'MM Count': 1, 'Smart Speed': 1, 'Voltage Level Offset': 0, 'Nonce Mask': 25 },
      { STATS: 1, ID: 'POOL0', Elapsed: this.elapsedS(), Calls: 0, Wait: 0, Max: 0, Min: 99999999, 'Pool Calls': 0, 'Work Diff': 65536 },
    ];
  }

  private share(level: number): number {
    const shares = this.profile.levelShares;
    return shares[Math.max(0, Math.min(shares.length - 1, level - this.profile.levels.lo))] ?? 1;
  }

  private elapsedS(): number {
    return Math.max(0, Math.floor((this.minerNow() - this.bootMs) / 1000));
  }
}

function specOf(p: AvalonProfile): MachineSpec {
  return { ratedKw: p.ratedKw, standbyKw: p.standbyKw, ratedThs: p.ratedThs, stopMs: p.stopMs, wakeMs: p.wakeMs, rampMs: p.rampMs };
}

/** JSON `{command, parameter}`, or cgminer's plain `command|parameter` */
export function parseRequest(raw: string): { command: string; parameter?: string } {
  try {
    const v = JSON.parse(raw) as { command?: unknown; parameter?: unknown };
    if (v && typeof v.command === 'string') return { command: v.command, parameter: v.parameter === undefined ? undefined : String(v.parameter) };
  } catch { /* the plain form */ }
  const text = raw.trim();
  const bar = text.indexOf('|');
  return bar < 0 ? { command: text } : { command: text.slice(0, bar), parameter: text.slice(bar + 1) };
}
