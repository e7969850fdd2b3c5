import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { SimMachine } from '../../sim/miners/machine';
import type { Family } from '../../sim/miners/families';
import { loopDelay, monoMs, type LoopDelay } from './sim-host';

/**
 * Host of simulated network miners for `hashflex bench miners` (miners.ts): a child process
 * (miner-host-main.ts, forked with an IPC channel) serving a share of the site's miners, each
 * with its firmware's API on a loopback address of its own, so the agent's thousand connections
 * land in other event loops than its own.
 *
 * It stamps, where it happens and on CLOCK_MONOTONIC (monoMs, shared by every process on the
 * machine), when each stop request arrives at a miner (its first byte read) and when the miner
 * answered it (the reply handed to the socket), without touching the simulators: a tap on this
 * process's servers (net.Server `connection`, http.Server `request`) sees every exchange, and
 * the miner's own address says whose it is. What a stop looks like on the wire, per family:
 *  - Antminer: POST /cgi-bin/set_miner_conf.cgi whose body sets `miner-mode` 1 (sleep);
 *  - Whatsminer API v3: a `set.miner.service` frame with `stop`;
 *  - Whatsminer API v2: an encrypted request ({"enc":...}) during which the firmware powered the
 *    machine off (its SimMachine's sleep(), called while the request is handled, just before the
 *    reply is written): the tap cannot read AES, the machine tells;
 *  - Avalon: `ascset` with `softoff` (it acts at its stamp, up to 2 s later: not the acceptance);
 *  - LuxOS: `curtail` with `sleep`;
 *  - Braiins OS+: a gRPC `ActionsService/PauseMining` call (an HTTP/2 stream: `stream` to its
 *    response headers);
 *  - VNish: as for the v2 Whatsminer, the exchange during which the firmware stopped the machine
 *    (its REST replies do not say what they did).
 *
 * Messages in:  start, arm (forget stamps, record from now), collect, disarm, status, counts,
 *               eld (start / stop sampling event-loop delay), close.
 * Messages out: ready, kw (the machines' total, every kwEveryMs, for the bench's grid meter),
 *               stops, status, counts, eld, closed, error.
 */
export type MinerFamily = Family;
/** a family and, for Whatsminer, its API: what the per-kind figures are split by */
export type MinerKind = Exclude<Family, 'whatsminer'> | 'whatsminer-v2' | 'whatsminer-v3';

export interface PlannedMiner {
  id: string;
  family: MinerFamily;
  kind: MinerKind;
  /** its own loopback address */
  host: string;
}

export interface MinerHostStart {
  type: 'start';
  miners: PlannedMiner[];
  /** the Antminer web server's port (80, the firmware's, where this process may bind it) */
  webPort: number;
  /** a sleeping machine's wake-up time (ms): shorter than a real one so that curtails can repeat */
  wakeMs: number;
  /** physics step (ms) */
  tickMs: number;
  kwEveryMs: number;
}

export type MinerHostIn =
  | MinerHostStart
  | { type: 'arm' } | { type: 'collect' } | { type: 'disarm' }
  | { type: 'status' } | { type: 'counts' }
  | { type: 'eld'; on: boolean }
  | { type: 'close' };

/** one stop request at its miner (monoMs) */
export interface StopStamp {
  id: string;
  family: MinerFamily;
  kind: MinerKind;
  arrivedAt: number;
  answeredAt: number;
}

export interface MinerHostStatus {
  total: number;
  /** machines by SimMachine state */
  states: Record<string, number>;
  /** a few that are not hashing (for timeout messages) */
  notHashing: string[];
  /** machines whose stop has been carried out (asleep or on the way) */
  stopped: number;
}

export type MinerHostOut =
  | { type: 'ready'; miners: { id: string; ports: Record<string, number> }[] }
  | { type: 'kw'; kw: number }
  | { type: 'stops'; stops: StopStamp[] }
  | ({ type: 'status' } & MinerHostStatus)
  | { type: 'counts'; requests: Partial<Record<MinerKind, number>> }
  | ({ type: 'eld' } & LoopDelay)
  | { type: 'closed' }
  | { type: 'error'; message: string };

interface Served {
  plan: PlannedMiner;
  machine: SimMachine;
  close(): Promise<void>;
  /** a v2 Whatsminer powered off while handling a request that has not answered yet */
  sleepPending: boolean;
}

/** what a stop looks like in the first bytes of a request (Whatsminer v2: see claimSleep) */
const STOP_TEXT: Partial<Record<MinerKind, RegExp>> = {
  antminer: /^POST \/cgi-bin\/set_miner_conf\.cgi [\s\S]*"miner-mode":"?1"?[,}]/,
  'whatsminer-v3': /"cmd":"set\.miner\.service"[\s\S]*"param":"stop"/,
  avalon: /softoff/,
  luxos: /"curtail"[\s\S]*,sleep"/,
  braiins: /^POST \/braiins\.bos\.v1\.ActionsService\/PauseMining /,
};
/** HTTP/2 servers (gRPC) are tapped per stream, not per socket: their sockets are read by nghttp2, not by 'data' */
const Http2Server = Object.getPrototypeOf(http2.createServer()).constructor as new () => http2.Http2Server;
/** bytes of a request kept for the classification above (an Antminer config body is ~1 KB) */
const KEEP_BYTES = 8192;

export class MinerHost {
  private readonly served: Served[] = [];
  private readonly byAddress = new Map<string, Served>();
  private readonly requests: Partial<Record<MinerKind, number>> = {};
  private stops: StopStamp[] = [];
  private armed = false;
  private ticker?: NodeJS.Timeout;
  private kwTimer?: NodeJS.Timeout;
  private eld?: IntervalHistogram;
  private untap?: () => void;

  constructor(private readonly emit: (m: MinerHostOut) => void) {}

  async handle(m: MinerHostIn): Promise<void> {
    switch (m.type) {
      case 'start':
        this.emit({ type: 'ready', miners: await this.start(m) });
        return;
      case 'arm':
        this.stops = [];
        this.armed = true;
        for (const s of this.served) s.sleepPending = false;
        this.emit({ type: 'stops', stops: [] });
        return;
      case 'collect':
        this.emit({ type: 'stops', stops: this.stops });
        return;
      case 'disarm':
        this.armed = false;
        this.emit({ type: 'stops', stops: this.stops });
        return;
      case 'status':
        this.emit({ type: 'status', ...this.status() });
        return;
      case 'counts':
        this.emit({ type: 'counts', requests: { ...this.requests } });
        return;
      case 'eld':
        if (m.on) {
          this.eld = monitorEventLoopDelay({ resolution: 10 });
          this.eld.enable();
        } else if (this.eld) {
          this.eld.disable();
          this.emit({ type: 'eld', ...loopDelay(this.eld) });
          this.eld = undefined;
        }
        return;
      case 'close':
        await this.close();
        this.emit({ type: 'closed' });
        return;
    }
  }

  status(): MinerHostStatus {
    const states: Record<string, number> = {};
    const notHashing: string[] = [];
    let stopped = 0;
    for (const s of this.served) {
      const st = s.machine.state;
      states[st] = (states[st] ?? 0) + 1;
      if (st !== 'hashing' && notHashing.length < 8) notHashing.push(`${s.plan.id} ${st} ${s.machine.kw.toFixed(2)} kW`);
      if (st === 'stopping' || st === 'sleeping') stopped++;
    }
    return { total: this.served.length, states, notHashing, stopped };
  }

  private async start(m: MinerHostStart): Promise<{ id: string; ports: Record<string, number> }[]> {
    this.untap = this.tap();
    const ready: { id: string; ports: Record<string, number> }[] = [];
    // a few at a time: a thousand listen() calls at once only queue in the kernel
    for (let i = 0; i < m.miners.length; i += 50) {
      const batch = await Promise.all(m.miners.slice(i, i + 50).map((p) => this.serve(p, m)));
      ready.push(...batch);
    }
    let last = monoMs();
    this.ticker = setInterval(() => {
      const now = monoMs();
      for (const s of this.served) s.machine.tick(now - last);
      last = now;
    }, m.tickMs);
    this.kwTimer = setInterval(() => {
      let kw = 0;
      for (const s of this.served) kw += s.machine.kw;
      this.emit({ type: 'kw', kw });
    }, m.kwEveryMs);
    return ready;
  }

  private async serve(plan: PlannedMiner, m: MinerHostStart): Promise<{ id: string; ports: Record<string, number> }> {
    const { SIM_FAMILIES } = require('../../sim/miners/families') as typeof import('../../sim/miners/families');
    const f = SIM_FAMILIES[plan.family];
    const firmware = plan.kind === 'whatsminer-v3' ? f.firmwares?.[1] : f.firmwares?.[0];
    // no Whatsminer web page here: the bench drives its API only
    const sim = await f.serve({ id: plan.id, host: plan.host, spec: { ...f.spec, wakeMs: m.wakeMs }, firmware, web: plan.family === 'whatsminer' ? null : m.webPort });
    const { machine } = sim;
    const close = () => sim.close();
    const ports = { ...sim.ports } as Record<string, number>;
    const s: Served = { plan, machine, close, sleepPending: false };
    // a stop the tap cannot read (encrypted, or HTTP/2): the machine powering off while a request is handled says it was one
    if (!STOP_TEXT[plan.kind]) {
      const sleep = machine.sleep.bind(machine);
      machine.sleep = (what?: string) => {
        s.sleepPending = true;
        sleep(what);
      };
    }
    this.served.push(s);
    this.byAddress.set(plan.host, s);
    return { id: plan.id, ports };
  }

  /**
   * Watch every exchange on this process's servers: net servers from the first byte read to the
   * first byte written, HTTP servers from the request to res.end(). Returns the undo.
   */
  private tap(): () => void {
    const proto = net.Server.prototype as net.Server & { emit: (event: string | symbol, ...args: unknown[]) => boolean };
    const had = Object.prototype.hasOwnProperty.call(proto, 'emit');
    const orig = proto.emit;
    const host = this;
    proto.emit = function (this: net.Server, event: string | symbol, ...args: unknown[]): boolean {
      try {
        if (event === 'connection' && !(this instanceof http.Server) && !(this instanceof Http2Server)) host.tapSocket(args[0] as net.Socket);
        else if (event === 'request') host.tapRequest(args[0] as http.IncomingMessage, args[1] as http.ServerResponse);
        else if (event === 'stream') host.tapStream(args[0] as http2.ServerHttp2Stream, args[1] as http2.IncomingHttpHeaders);
      } catch { /* the tap must never break a server */ }
      return orig.call(this, event, ...args);
    };
    return () => {
      if (had) proto.emit = orig;
      else delete (proto as { emit?: unknown }).emit;
    };
  }

  private tapSocket(socket: net.Socket): void {
    const s = this.byAddress.get(socket.localAddress ?? '');
    if (!s) return;
    let arrivedAt = 0;
    let text = '';
    socket.prependListener('data', (chunk: Buffer) => {
      if (arrivedAt === 0) arrivedAt = monoMs();
      if (text.length < KEEP_BYTES) text += chunk.toString('latin1', 0, Math.min(chunk.length, KEEP_BYTES - text.length));
    });
    const answered = () => {
      if (arrivedAt === 0) return;
      this.answered(s, arrivedAt, monoMs(), text);
      arrivedAt = 0;
      text = '';
    };
    const write = socket.write;
    const end = socket.end;
    socket.write = function (this: net.Socket, ...a: unknown[]) {
      answered();
      return (write as (...x: unknown[]) => boolean).apply(this, a);
    } as typeof socket.write;
    socket.end = function (this: net.Socket, ...a: unknown[]) {
      if (typeof a[0] !== 'function' && a[0] !== undefined) answered();
      return (end as (...x: unknown[]) => net.Socket).apply(this, a);
    } as typeof socket.end;
  }

  private tapRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const s = this.byAddress.get(req.socket.localAddress ?? '');
    if (!s) return;
    const host = this;
    const arrivedAt = monoMs();
    let text = `${req.method} ${req.url} `;
    req.on('data', (chunk: Buffer) => {
      if (text.length < KEEP_BYTES) text += chunk.toString('latin1', 0, Math.min(chunk.length, KEEP_BYTES - text.length));
    });
    const end = res.end;
    let done = false;
    res.end = function (this: http.ServerResponse, ...a: unknown[]) {
      if (!done) {
        done = true;
        host.answered(s, arrivedAt, monoMs(), text);
      }
      return (end as (...x: unknown[]) => http.ServerResponse).apply(this, a);
    } as typeof res.end;
  }

  private tapStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    const s = this.byAddress.get(stream.session?.socket?.localAddress ?? '');
    if (!s) return;
    const host = this;
    const arrivedAt = monoMs();
    const text = `${headers[':method']} ${headers[':path']} `;
    const respond = stream.respond;
    let done = false;
    stream.respond = function (this: http2.ServerHttp2Stream, ...a: unknown[]) {
      if (!done) {
        done = true;
        host.answered(s, arrivedAt, monoMs(), text);
      }
      return (respond as (...x: unknown[]) => void).apply(this, a);
    } as typeof stream.respond;
  }

  private answered(s: Served, arrivedAt: number, answeredAt: number, text: string): void {
    const kind = s.plan.kind;
    this.requests[kind] = (this.requests[kind] ?? 0) + 1;
    const rule = STOP_TEXT[kind];
    let stop: boolean;
    if (rule) {
      stop = rule.test(text);
    } else {
      stop = s.sleepPending && (kind !== 'whatsminer-v2' || text.startsWith('{"enc"'));
      if (stop) s.sleepPending = false;
    }
    if (stop && this.armed) this.stops.push({ id: s.plan.id, family: s.plan.family, kind, arrivedAt, answeredAt });
  }

  async close(): Promise<void> {
    clearInterval(this.ticker);
    clearInterval(this.kwTimer);
    this.eld?.disable();
    await Promise.allSettled(this.served.splice(0).map((s) => s.close()));
    this.byAddress.clear();
    this.untap?.();
    this.untap = undefined;
  }
}
