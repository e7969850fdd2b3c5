import crypto from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { MinerStatusCode, TunerStateCode, type BosService } from '../../drivers/miner/braiins/proto';
import { BOS_CURRENT, cgReply, garbledService, WEB_PAGE } from './braiins-api';
import { SimMachine, STOCK_SPEC, type MachineSpec } from './machine';
import { parseRequest } from './avalon';
import { serveRpc, type RpcServer } from './rpc-server';

/**
 * A simulated miner on Braiins OS+ (an Antminer S19j Pro by default), its APIs served for real on
 * one loopback address over one SimMachine:
 *  - the public gRPC API on 50051 (the protos of drivers/miner/braiins/proto.ts): GetApiVersion
 *    without a logon; Login, which answers a token in LoginResponse.token and timeout_s and in
 *    the `authorization` response header (`tokenInHeaderOnly`: firmware before API 1.1, the
 *    header alone); every other call wants that token in its `authorization` metadata, and a
 *    missing, unknown or expired one gets UNAUTHENTICATED. A token lives `tokenTimeoutS`
 *    from its last use (the API's word: "refreshed to this value with each request") or, with
 *    `slidingTokens: false`, from its logon;
 *  - PauseMining / ResumeMining (`already_paused` / `already_mining` instead of an error when
 *    there is nothing to do), Stop / Start (bosminer itself), SetPowerTarget (within the
 *    model's range and with a save_action that applies, else INVALID_ARGUMENT), GetTunerState,
 *    GetMinerDetails, GetMinerStats, GetCoolingState, GetConstraints;
 *  - the cgminer-style API on 4028 and the web UI on 80 (braiins-api.ts) that discovery probes.
 * Power ramps as the machine's physics say: a pause falls over stopMs, a resume rises over
 * wakeMs, a new target ramps over rampMs. Faults: the machine's switches on every server (hang:
 * nothing answers; down: connections reset, the open gRPC connection too; garbage: replies that
 * do not decode), and `faults.delayMs` / `faults.powerW` for one method's slowness or an absurd
 * power reading. The sim does not tick its machine: the plant does (or a test).
 */
export const BRAIINS_SPEC: MachineSpec = { ...STOCK_SPEC, ratedKw: 3.1, ratedThs: 104 };
export const BRAIINS_SIM_PORTS = { grpc: 50051, api: 4028, web: 80 } as const;

export interface SimBraiinsOptions {
  id?: string;
  host: string;
  /** the firmware's own ports where absent, 0 for a free one, null for none (api, web) */
  ports?: { grpc?: number; api?: number | null; web?: number | null };
  spec?: MachineSpec;
  /** MinerIdentity.miner_model, e.g. "Antminer S19j Pro" */
  model?: string;
  username?: string;
  password?: string;
  tokenTimeoutS?: number;
  slidingTokens?: boolean;
  tokenInHeaderOnly?: boolean;
  /** wall clock (ms) for token lives and replies' times; a test passes its virtual clock */
  now?: () => number;
  /** starts paused */
  paused?: boolean;
  /** the power-target range (W); by default 40 % … 120 % of rated, default at rated */
  range?: { min: number; max: number; default: number };
}

export interface BraiinsFaults {
  /** ms before a method answers, by method name (GetMinerStats, PauseMining, …) */
  delayMs: Partial<Record<string, number>>;
  /** GetMinerStats reports this power (W) instead of the machine's */
  powerW?: number;
}

export interface SimCall {
  at: number;
  method: string;
  /** carried an authorization token */
  token: boolean;
  outcome: 'ok' | 'unauthenticated' | 'refused' | 'hung' | 'garbage' | 'reset';
}

type Status = 'normal' | 'paused' | 'not-started';
type Handler = (request: Record<string, unknown>) => { response: object; headers?: grpc.Metadata };

class Refusal extends Error {
  constructor(readonly code: grpc.status, message: string) {
    super(message);
  }
}

const REQUEST_LOG = 1000;

export class SimBraiins {
  readonly machine: SimMachine;
  readonly faults: BraiinsFaults = { delayMs: {} };
  /** gRPC calls in the order they came (the oldest go past REQUEST_LOG) */
  readonly calls: SimCall[] = [];
  readonly model: string;
  status: Status;
  targetW: number;
  readonly range: { min: number; max: number; default: number };
  tokenTimeoutS: number;
  slidingTokens: boolean;
  tokensIssued = 0;
  ports = { grpc: 0, api: 0, web: 0 };

  private readonly username: string;
  private password: string;
  private readonly now: () => number;
  private readonly tokens = new Map<string, { issuedAt: number; lastUse: number }>();
  private readonly bootAt: number;
  private grpcServer?: grpc.Server;
  private grpcListener?: net.Server;
  private rpc?: RpcServer;
  private web?: http.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(readonly o: SimBraiinsOptions) {
    const spec = o.spec ?? BRAIINS_SPEC;
    this.machine = new SimMachine(o.id ?? o.host, spec, o.paused ? spec.standbyKw : spec.ratedKw);
    if (o.paused) this.machine.state = 'sleeping';
    this.status = o.paused ? 'paused' : 'normal';
    this.model = o.model ?? 'Antminer S19j Pro';
    this.username = o.username ?? 'root';
    this.password = o.password ?? 'root';
    this.tokenTimeoutS = o.tokenTimeoutS ?? 3600;
    this.slidingTokens = o.slidingTokens ?? true;
    this.now = o.now ?? Date.now;
    this.bootAt = this.now();
    const rated = Math.round(spec.ratedKw * 1000);
    this.range = o.range ?? { min: Math.round((rated * 0.4) / 100) * 100, max: Math.round((rated * 1.2) / 100) * 100, default: rated };
    this.targetW = this.range.default;
  }

  get host(): string {
    return this.o.host;
  }

  async start(): Promise<this> {
    const p = this.o.ports ?? {};
    this.grpcServer = new grpc.Server();
    for (const [service, handlers] of Object.entries(this.services())) this.grpcServer.addService(garbledService(service as BosService, () => this.machine.faults.garbage), this.unary(handlers));
    const injector = this.grpcServer.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    this.grpcListener = net.createServer((s) => {
      if (!this.track(s)) return;
      injector.injectConnection(s);
    });
    this.ports.grpc = await listen(this.grpcListener, this.o.host, p.grpc ?? BRAIINS_SIM_PORTS.grpc);
    if (p.api !== null) {
      this.rpc = await serveRpc(this.o.host, p.api ?? BRAIINS_SIM_PORTS.api, (req, socket) => this.answerRpc(req, socket));
      this.ports.api = this.rpc.port;
    }
    if (p.web !== null) {
      this.web = http.createServer((req, res) => this.answerWeb(req, res));
      this.web.on('connection', (s: net.Socket) => { this.track(s); });
      this.ports.web = await listen(this.web, this.o.host, p.web ?? BRAIINS_SIM_PORTS.web);
    }
    return this;
  }

  tick(dtMs: number): void {
    this.machine.tick(dtMs);
  }

  /** every token given so far has run out (the next call with one gets UNAUTHENTICATED) */
  expireTokens(): void {
    for (const t of this.tokens.values()) t.issuedAt = t.lastUse = -Infinity;
  }

  /** the firmware restarted: it knows no token any more */
  forgetTokens(): void {
    this.tokens.clear();
  }

  setPassword(password: string): void {
    this.password = password;
    this.tokens.clear();
  }

  /** tokens that would be accepted now */
  liveTokens(): number {
    return [...this.tokens.values()].filter((t) => this.alive(t)).length;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.grpcServer?.forceShutdown();
    await Promise.all([
      this.rpc?.close(),
      new Promise<void>((r) => (this.grpcListener ? this.grpcListener.close(() => r()) : r())),
      new Promise<void>((r) => (this.web ? this.web.close(() => r()) : r())),
    ]);
  }

  // ---- the gRPC API ----

  private services(): Record<BosService, Record<string, Handler | { open: Handler }>> {
    const ok = (response: object) => ({ response });
    return {
      'braiins.bos.ApiVersionService': { GetApiVersion: { open: () => ok({ major: 1, minor: 5, patch: 0, pre: '', build: '' }) } },
      'braiins.bos.v1.AuthenticationService': { Login: { open: (r) => this.login(r) } },
      'braiins.bos.v1.ActionsService': {
        PauseMining: () => ok({ already_paused: this.pause() }),
        ResumeMining: () => ok({ already_mining: this.resume() }),
        Stop: () => ok({ already_stopped: this.stopBosminer() }),
        Start: () => ok({ already_running: this.startBosminer() }),
      },
      'braiins.bos.v1.PerformanceService': {
        SetPowerTarget: (r) => ok({ power_target: { watt: this.setTarget(r) } }),
        GetTunerState: () => ok({
          overall_tuner_state: this.status !== 'normal' ? TunerStateCode.disabled : this.machine.state === 'hashing' ? TunerStateCode.stable : TunerStateCode.tuning,
          power_target_mode_state: { current_target: { watt: this.targetW } },
        }),
      },
      'braiins.bos.v1.MinerService': {
        GetMinerDetails: () => ok(this.details()),
        GetMinerStats: () => ok(this.stats()),
      },
      'braiins.bos.v1.CoolingService': {
        GetCoolingState: () => ok({ highest_temperature: { location: 1, temperature: { degree_c: this.machine.tempC } } }),
      },
      'braiins.bos.v1.ConfigurationService': {
        GetConstraints: () => ok({ tuner_constraints: { power_target: { default: { watt: this.range.default }, min: { watt: this.range.min }, max: { watt: this.range.max } } } }),
      },
    };
  }

  private login(r: Record<string, unknown>): { response: object; headers: grpc.Metadata } {
    if (r.username !== this.username || r.password !== this.password) throw new Refusal(grpc.status.UNAUTHENTICATED, 'invalid username or password');
    const token = crypto.randomBytes(12).toString('base64url').slice(0, 16);
    const at = this.now();
    this.tokens.set(token, { issuedAt: at, lastUse: at });
    this.tokensIssued++;
    const headers = new grpc.Metadata();
    headers.set('authorization', token);
    return { response: this.o.tokenInHeaderOnly ? {} : { token, timeout_s: this.tokenTimeoutS }, headers };
  }

  private alive(t: { issuedAt: number; lastUse: number }): boolean {
    return this.now() - (this.slidingTokens ? t.lastUse : t.issuedAt) < this.tokenTimeoutS * 1000;
  }

  private authorized(call: grpc.ServerUnaryCall<unknown, unknown>): boolean {
    const v = call.metadata.get('authorization')[0];
    const t = typeof v === 'string' ? this.tokens.get(v) : undefined;
    if (!t || !this.alive(t)) return false;
    t.lastUse = this.now();
    return true;
  }

  private pause(): boolean {
    const already = this.status !== 'normal';
    if (this.status === 'normal') this.status = 'paused';
    this.machine.sleep(already ? 'sleep (PauseMining, already paused)' : 'sleep (PauseMining)');
    return already;
  }

  private resume(): boolean {
    if (this.status === 'not-started') throw new Refusal(grpc.status.FAILED_PRECONDITION, 'bosminer is not running');
    if (this.status === 'normal') return true;
    this.status = 'normal';
    this.machine.run(this.targetW / 1000, 'resume (ResumeMining)');
    return false;
  }

  private stopBosminer(): boolean {
    const already = this.status === 'not-started';
    this.status = 'not-started';
    this.machine.sleep('sleep (Stop: bosminer stopped)');
    return already;
  }

  private startBosminer(): boolean {
    if (this.status !== 'not-started') return true;
    this.status = 'normal';
    this.machine.run(this.targetW / 1000, 'start (Start)');
    return false;
  }

  private setTarget(r: Record<string, unknown>): number {
    const save = r.save_action;
    const w = (r.power_target as { watt?: unknown } | null)?.watt;
    if (save !== 1 && save !== 2 && save !== 3) throw new Refusal(grpc.status.INVALID_ARGUMENT, 'save_action must be given');
    if (typeof w !== 'number' || w < this.range.min || w > this.range.max) {
      throw new Refusal(grpc.status.INVALID_ARGUMENT, `power target ${String(w)} W is outside ${this.range.min}..${this.range.max} W`);
    }
    this.targetW = w;
    // SAVE alone writes the configuration; only the apply actions change what the miner does
    if (save !== 1 && this.status === 'normal') this.machine.run(w / 1000, `power target ${w} W`);
    return w;
  }

  private details(): object {
    const m = this.machine;
    return {
      uid: crypto.createHash('md5').update(this.o.host).digest('base64url').slice(0, 16),
      miner_identity: { brand: 1, name: this.model, miner_model: this.model },
      bos_version: { current: BOS_CURRENT, major: BOS_CURRENT, bos_plus: true },
      hostname: 'bosminer',
      mac_address: '02:00:00:00:00:01',
      sticker_hashrate: { gigahash_per_second: m.spec.ratedThs * 1000 },
      bosminer_uptime_s: this.status === 'not-started' ? 0 : this.elapsedS(),
      system_uptime_s: this.elapsedS(),
      status: this.status === 'normal' ? MinerStatusCode.normal : this.status === 'paused' ? MinerStatusCode.paused : MinerStatusCode.notStarted,
    };
  }

  private stats(): object {
    const m = this.machine;
    const gh = { gigahash_per_second: m.ths * 1000 };
    const nominal = this.status === 'normal' ? (m.spec.ratedThs * 1000 * this.targetW) / (m.spec.ratedKw * 1000) : 0;
    return {
      miner_stats: { real_hashrate: { last_5s: gh, last_15s: gh, last_30s: gh, last_1m: gh, last_5m: gh }, nominal_hashrate: { gigahash_per_second: nominal } },
      power_stats: { approximated_consumption: { watt: this.faults.powerW ?? Math.round(m.kw * 1000) } },
    };
  }

  /** grpc-js handlers with the faults, the token check and the call log around each method */
  private unary(handlers: Record<string, Handler | { open: Handler }>): grpc.UntypedServiceImplementation {
    const out: grpc.UntypedServiceImplementation = {};
    for (const [method, h] of Object.entries(handlers)) {
      const open = typeof h !== 'function';
      const run = open ? h.open : h;
      out[method] = (call: grpc.ServerUnaryCall<Record<string, unknown>, object>, callback: grpc.sendUnaryData<object>) => {
        const entry: SimCall = { at: this.now(), method, token: call.metadata.get('authorization').length > 0, outcome: 'ok' };
        this.calls.push(entry);
        if (this.calls.length > REQUEST_LOG) this.calls.shift();
        const f = this.machine.faults;
        if (f.down) {
          entry.outcome = 'reset';
          for (const s of this.sockets) s.resetAndDestroy();
          return;
        }
        if (f.hang) { entry.outcome = 'hung'; return; }
        const answer = () => {
          if (!open && !this.authorized(call)) {
            entry.outcome = 'unauthenticated';
            return callback({ code: grpc.status.UNAUTHENTICATED, details: 'authentication required: missing, unknown or expired token' });
          }
          try {
            const { response, headers } = run(call.request ?? {});
            if (headers) call.sendMetadata(headers);
            if (f.garbage) entry.outcome = 'garbage';
            callback(null, response);
          } catch (e) {
            entry.outcome = 'refused';
            callback({ code: e instanceof Refusal ? e.code : grpc.status.INTERNAL, details: (e as Error).message });
          }
        };
        const delay = this.faults.delayMs[method] ?? 0;
        if (delay > 0) setTimeout(answer, delay).unref();
        else answer();
      };
    }
    return out;
  }

  // ---- 4028 and the web UI ----

  private answerRpc(request: string, socket: net.Socket): string | undefined {
    const f = this.machine.faults;
    if (f.down) {
      socket.resetAndDestroy();
      return undefined;
    }
    if (f.hang) return undefined;
    if (f.garbage) return crypto.randomBytes(48).toString('latin1').replace(/\0/g, '?');
    return cgReply(parseRequest(request).command, { machine: this.machine, model: this.model, elapsedS: this.elapsedS(), when: Math.floor(this.now() / 1000) });
  }

  private answerWeb(req: http.IncomingMessage, res: http.ServerResponse): void {
    const f = this.machine.faults;
    req.resume();
    if (f.hang) return;
    const index = req.method === 'GET' && (req.url === '/' || req.url === '/index.html');
    const body = f.garbage ? crypto.randomBytes(64) : Buffer.from(index ? WEB_PAGE : '<html><body>404 Not Found</body></html>');
    res.writeHead(index ? 200 : 404, { 'Content-Type': 'text/html', 'Content-Length': body.length });
    res.end(body);
  }

  /** a new connection: kept for close() and `down`, or reset at once while the machine is down */
  private track(s: net.Socket): boolean {
    if (this.machine.faults.down) {
      s.resetAndDestroy();
      return false;
    }
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => {});
    return true;
  }

  private elapsedS(): number {
    return Math.max(0, Math.floor((this.now() - this.bootAt) / 1000));
  }
}

function listen(server: net.Server | http.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as net.AddressInfo).port));
  });
}

export async function startSimBraiins(o: SimBraiinsOptions): Promise<SimBraiins> {
  return new SimBraiins(o).start();
}
