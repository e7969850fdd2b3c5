import crypto from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import type { MinerSettings } from '../../agent/hardware';
import { PresetSettings, scaleOf, usablePresets } from '../../drivers/miner/vnish/presets';
import { bmminerReply } from './antminer-api';
import { SimMachine, STOCK_SPEC, type MachineSpec } from './machine';
import { serveRpc, type RpcServer } from './rpc-server';
import { defaultSettings, infoBody, pageHtml, perfSummaryBody, presetsBody, S19_PRESETS, summaryBody, type SimPreset, type VnishView } from './vnish-api';

export { S19_PRESETS, type SimPreset } from './vnish-api';

/**
 * A simulated Antminer on VNish firmware, served for real on its own loopback address:
 *  - the REST API on the web port (80) under `/api/v1`: `unlock` {pw} -> {token}; `info`,
 *    `status`, `perf-summary` open to all; `summary`, `settings` (GET / POST),
 *    `autotune/presets`, `mining/stop|start|restart` behind `Authorization: Bearer <token>` (a bare
 *    token as pyasic sends it is taken too). A token lapses tokenTtlMs after it was given (401).
 *    `GET /` is the web app's page, titled with the build's brand (Vnish; AnthillOS from 1.2.7).
 *  - its cgminer-compatible API on 4028 (a bmminer fork: sim/miners/antminer-api.ts's replies),
 *    whose VERSION and STATS Type read "Antminer S19 (Vnish 1.2.6)", as discovery sees it.
 * The firmware's uninformative replies: mining/stop and start answer an empty 200, settings
 * `{"restart_required":false,"reboot_required":false}`, whether or not anything changed; the
 * `faults` switches make it ignore a preset, a stop or a start while answering the same.
 * The preset drives the SimMachine: run(preset W) while mining (ramping over rampMs), stored while
 * stopped and applied at the start (waking over wakeMs); a stop sleeps it (stopMs).
 * The machine's fault switches (hang, down, garbage) act on both servers. The sim does not tick
 * its machine: the plant does (or a test, with tick()).
 */
export interface SimVnishOptions {
  id?: string;
  /** a loopback address of its own, e.g. 127.26.1.1 */
  host: string;
  /** the firmware's own ports by default (api 4028, web 80); 0 picks a free one */
  ports?: { api?: number; web?: number };
  /** "Antminer S19" */
  model?: string;
  fwVersion?: string;
  /** the name the build gives itself in info and on its page */
  brand?: 'Vnish' | 'AnthillOS';
  spec?: MachineSpec;
  password?: string;
  presets?: readonly SimPreset[];
  /** the preset in force at start (default the highest tuned stock-PSU one) */
  preset?: string;
  /** hashing at start (default true); false: stopped */
  mining?: boolean;
  /** a token is good this long after it was given (ms) */
  tokenTtlMs?: number;
  /** the clock token ages are measured on (ms); Date.now by default */
  now?: () => number;
}

export interface VnishFaults {
  /** settings POST answered as always, the preset left as it was */
  ignorePreset: boolean;
  /** mining/stop answered as always, mining goes on */
  ignoreStop: boolean;
  /** mining/start answered as always, the miner stays stopped */
  ignoreStart: boolean;
  /** unlock requests are taken and never answered */
  hangUnlock: boolean;
  /** a request on a kept-alive connection is dropped unanswered (the firmware closed it as it came) */
  resetReused: boolean;
  /** a settings POST answers restart_required: true and the preset acts only at a mining/restart */
  presetNeedsRestart: boolean;
  /** the miner reports a failure (summary miner_state "failure", with this description) */
  failure?: string;
  /** raw body (HTTP 200) served for a path ("/api/v1/summary") in place of the real one */
  bodies: Partial<Record<string, string>>;
}

export interface VnishRequest {
  method: string;
  path: string;
  status: number;
  /** the token: absent, good, lapsed, or unknown */
  auth: 'none' | 'ok' | 'expired' | 'bad';
  /** answered, or what the fault switches made of it */
  outcome: 'answered' | 'hung' | 'reset' | 'garbage';
}

const OPEN = new Set(['/api/v1/info', '/api/v1/status', '/api/v1/perf-summary', '/api/v1/unlock']);

export class SimVnish {
  readonly machine: SimMachine;
  readonly faults: VnishFaults = { ignorePreset: false, ignoreStop: false, ignoreStart: false, hangUnlock: false, resetReused: false, presetNeedsRestart: false, bodies: {} };
  /** every web request, in order (tests read it) */
  readonly requests: VnishRequest[] = [];
  /** every settings POST body, parsed */
  readonly posts: Record<string, unknown>[] = [];
  settings: Record<string, unknown>;
  presets: SimPreset[];
  password: string;
  tokenTtlMs: number;
  readonly model: string;
  readonly fwVersion: string;
  readonly brand: string;
  ports = { api: 0, web: 0 };
  private readonly now: () => number;
  private readonly tokens = new Map<string, number>();
  private stateSince = Date.now();
  private lastState: string;
  private presetAwaitingRestart = false;
  private rpc?: RpcServer;
  private web?: http.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly served = new WeakMap<net.Socket, number>();
  private readonly bootAt = Date.now();

  constructor(readonly o: SimVnishOptions) {
    this.presets = [...(o.presets ?? S19_PRESETS)];
    const top = [...this.presets].filter((p) => p.status === 'tuned' && !p.moddedPsu).sort((a, b) => b.watts - a.watts)[0];
    const preset = o.preset ?? top?.name ?? 'disabled';
    const spec = o.spec ?? STOCK_SPEC;
    const mining = o.mining ?? true;
    this.machine = new SimMachine(o.id ?? o.host, spec, mining ? this.presetKw(preset) : spec.standbyKw);
    if (!mining) this.machine.state = 'sleeping';
    this.lastState = this.machine.state;
    this.settings = defaultSettings(preset);
    this.model = o.model ?? 'Antminer S19';
    this.fwVersion = o.fwVersion ?? '1.2.6';
    this.brand = o.brand ?? 'Vnish';
    this.password = o.password ?? 'admin';
    this.tokenTtlMs = o.tokenTtlMs ?? 3_600_000;
    this.now = o.now ?? (() => Date.now());
  }

  get host(): string {
    return this.o.host;
  }

  /** the preset in force as the firmware holds it */
  get preset(): string {
    return String((this.overclock() as { preset?: unknown }).preset ?? 'disabled');
  }

  async start(): Promise<this> {
    this.rpc = await serveRpc(this.o.host, this.o.ports?.api ?? 4028, (req, socket) => this.answerRpc(req, socket));
    this.web = http.createServer((req, res) => this.answerWeb(req, res));
    this.web.keepAliveTimeout = 15_000;
    this.web.on('connection', (s: net.Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      if (this.machine.faults.down) s.resetAndDestroy();
    });
    await new Promise<void>((resolve, reject) => {
      this.web!.once('error', reject);
      this.web!.listen(this.o.ports?.web ?? 80, this.o.host, () => resolve());
    });
    this.ports = { api: this.rpc.port, web: (this.web.address() as net.AddressInfo).port };
    return this;
  }

  tick(dtMs: number): void {
    this.machine.tick(dtMs);
  }

  /** every token given so far has lapsed (the next protected request gets 401) */
  expireTokens(): void {
    for (const t of this.tokens.keys()) this.tokens.set(t, -Infinity);
  }

  /** the requests after `from`, as "METHOD path status" lines (tests) */
  lines(from = 0): string[] {
    return this.requests.slice(from).map((r) => `${r.method} ${r.path} ${r.outcome === 'answered' ? r.status : r.outcome}`);
  }

  async close(): Promise<void> {
    await this.rpc?.close();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.web ? this.web.close(() => r()) : r()));
  }

  // ---- the cgminer-compatible API on 4028 ----

  private answerRpc(request: string, socket: net.Socket): string | undefined {
    const f = this.machine.faults;
    if (f.down) {
      socket.resetAndDestroy();
      return undefined;
    }
    if (f.hang) return undefined;
    if (f.garbage) return garbage();
    let command = '';
    try {
      const r = JSON.parse(request) as { command?: unknown };
      command = typeof r.command === 'string' ? r.command : '';
    } catch {
      command = request.split('|')[0].trim();
    }
    return bmminerReply(command, { machine: this.machine, model: `${this.model} (Vnish ${this.fwVersion})`, elapsedS: Math.floor((Date.now() - this.bootAt) / 1000) });
  }

  // ---- the web server ----

  private answerWeb(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > 64 * 1024) req.destroy();
      else chunks.push(c);
    });
    req.on('end', () => this.handle(req, Buffer.concat(chunks).toString('utf8'), res));
  }

  private handle(req: http.IncomingMessage, body: string, res: http.ServerResponse): void {
    const method = req.method ?? 'GET';
    const path = (req.url ?? '/').split('?')[0];
    const f = this.machine.faults;
    const socket = req.socket;
    const seen = this.served.get(socket) ?? 0;
    this.served.set(socket, seen + 1);
    const auth = this.authOf(req.headers.authorization);
    const log = (status: number, outcome: VnishRequest['outcome'] = 'answered') => this.requests.push({ method, path, status, auth, outcome });
    if (f.down || (this.faults.resetReused && seen > 0)) {
      log(0, 'reset');
      socket.resetAndDestroy();
      return;
    }
    if (f.hang || (this.faults.hangUnlock && path === '/api/v1/unlock')) {
      log(0, 'hung');
      return;
    }
    if (f.garbage) {
      log(200, 'garbage');
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(garbage());
      return;
    }
    const send = (status: number, out: unknown, type = 'application/json') => {
      const text = typeof out === 'string' ? out : out === undefined ? '' : JSON.stringify(out);
      log(status);
      res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
    };
    if (method === 'GET' && (path === '/' || path === '/index.html')) return send(200, pageHtml(this.brand), 'text/html');
    if (!path.startsWith('/api/v1/')) return send(404, { err: 'not found' });
    if (!OPEN.has(path) && auth !== 'ok') return send(401, { err: 'unauthorized' });
    const override = this.faults.bodies[path];
    if (override !== undefined) return send(200, override);
    this.noteState();
    const view = this.view();
    const route = `${method} ${path.slice('/api/v1'.length)}`;
    switch (route) {
      case 'POST /unlock': return this.unlock(body, send);
      case 'GET /info': return send(200, infoBody(view));
      case 'GET /status': return send(200, { miner_state: (summaryBody(view).miner as { miner_status: { miner_state: string } }).miner_status.miner_state, miner_state_time: view.stateS, find_miner: false, restart_required: false, reboot_required: false, unlocked: auth === 'ok' });
      case 'GET /summary': return send(200, summaryBody(view));
      case 'GET /perf-summary': return send(200, perfSummaryBody(this.presets, this.preset));
      case 'GET /settings': return send(200, this.settings);
      case 'POST /settings': return this.postSettings(body, send);
      case 'GET /autotune/presets': return send(200, presetsBody(this.presets));
      case 'POST /mining/stop':
        if (!this.faults.ignoreStop) this.machine.sleep('sleep: mining/stop');
        return send(200, undefined);
      case 'POST /mining/start':
        if (!this.faults.ignoreStart && (this.machine.state === 'sleeping' || this.machine.state === 'stopping')) this.machine.run(this.presetKw(this.preset), 'mining/start');
        return send(200, undefined);
      case 'POST /mining/restart':
        this.presetAwaitingRestart = false;
        if (this.machine.state === 'hashing' || this.machine.state === 'waking') this.machine.run(this.presetKw(this.preset), 'mining/restart');
        return send(200, undefined);
      default:
        return send(404, { err: 'not found' });
    }
  }

  private unlock(body: string, send: (status: number, out: unknown) => void): void {
    let pw: unknown;
    try {
      pw = (JSON.parse(body) as { pw?: unknown }).pw;
    } catch { /* below */ }
    if (pw !== this.password) return send(403, { err: 'wrong password' });
    const token = crypto.randomBytes(16).toString('base64url');
    this.tokens.set(token, this.now());
    if (this.tokens.size > 1000) this.tokens.delete(this.tokens.keys().next().value!);
    send(200, { token });
  }

  private postSettings(body: string, send: (status: number, out: unknown) => void): void {
    let posted: Record<string, unknown>;
    try {
      const v: unknown = JSON.parse(body);
      if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
      posted = v as Record<string, unknown>;
    } catch {
      return send(400, { err: 'invalid settings' });
    }
    this.posts.push(posted);
    const before = this.preset;
    const oc = (posted.miner as { overclock?: Record<string, unknown> } | undefined)?.overclock;
    const wanted = oc?.preset === undefined ? undefined : String(oc.preset);
    if (wanted !== undefined && wanted !== 'disabled' && !this.presets.some((p) => p.name === wanted)) return send(400, { err: `unknown preset ${wanted}` });
    if (!this.faults.ignorePreset) {
      this.settings = merge(this.settings, posted);
    } else if (wanted !== undefined) {
      // everything but the preset is written, as a build that ignores it would
      this.settings = merge(this.settings, { miner: { overclock: { ...oc, preset: before } } });
    }
    const after = this.preset;
    if (after !== before && (this.machine.state === 'hashing' || this.machine.state === 'waking')) {
      if (this.faults.presetNeedsRestart) this.presetAwaitingRestart = true;
      else this.machine.run(this.presetKw(after), `preset ${after}`);
    }
    send(200, { restart_required: this.faults.presetNeedsRestart && this.presetAwaitingRestart, reboot_required: false });
  }

  private authOf(header: string | undefined): VnishRequest['auth'] {
    if (!header) return 'none';
    const token = header.replace(/^\s*Bearer\s+/i, '').trim();
    const at = this.tokens.get(token);
    if (at === undefined) return 'bad';
    return this.now() - at > this.tokenTtlMs ? 'expired' : 'ok';
  }

  private overclock(): Record<string, unknown> {
    const miner = this.settings.miner as { overclock?: Record<string, unknown> } | undefined;
    return miner?.overclock ?? {};
  }

  private presetKw(name: string): number {
    const p = this.presets.find((x) => x.name === name);
    return p ? p.watts / 1000 : this.machine.spec.ratedKw;
  }

  private noteState(): void {
    if (this.machine.state !== this.lastState) {
      this.lastState = this.machine.state;
      this.stateSince = Date.now();
    }
  }

  private view(): VnishView {
    return {
      machine: this.machine, model: this.model, fwVersion: this.fwVersion, brand: this.brand, host: this.o.host,
      preset: this.preset, failure: this.faults.failure, stateS: Math.floor((Date.now() - this.stateSince) / 1000),
    };
  }
}

/** a deep merge of plain objects, as the firmware's settings POST takes a partial document */
function merge(into: Record<string, unknown>, from: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...into };
  for (const [k, v] of Object.entries(from)) {
    const cur = out[k];
    out[k] = isPlain(v) && isPlain(cur) ? merge(cur, v) : v;
  }
  return out;
}

const isPlain = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

function garbage(): string {
  return crypto.randomBytes(48).toString('latin1').replace(/\0/g, '?');
}

/**
 * The scale the VNish driver offers over a sim's presets (the driver's own pure functions,
 * drivers/miner/vnish/presets.ts), for stand-ins that skip the wire (the time-leap rig).
 */
export function vnishSettings(spec: MachineSpec = STOCK_SPEC, presets: readonly SimPreset[] = S19_PRESETS): MinerSettings {
  const list = presets.map((p) => ({ name: p.name, watts: p.watts, ths: p.ths, tuned: p.status === 'tuned', moddedPsu: p.moddedPsu }));
  return new PresetSettings(scaleOf(usablePresets(list), Math.round(spec.ratedKw * 1000)), spec.standbyKw);
}

export async function startSimVnish(o: SimVnishOptions): Promise<SimVnish> {
  return new SimVnish(o).start();
}
