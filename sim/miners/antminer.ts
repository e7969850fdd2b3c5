import crypto from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import { SimMachine, STOCK_SPEC, type MachineSpec } from './machine';
import { bmminerReply, COMPILE_TIME } from './antminer-api';
import { serveRpc, type RpcServer } from './rpc-server';

/**
 * A simulated Antminer on stock Bitmain firmware (S19 / S21 class), served for real on its own
 * loopback address:
 *  - the bmminer API on TCP 4028: `version`, `summary`, `stats` (with the firmware's `}{` between
 *    the two STATS objects), `devdetails`; anything else is an "Invalid command" error reply;
 *  - the web server on 80, every path behind HTTP Digest auth (realm "antMiner Configuration",
 *    MD5, qop=auth, as the stock lighttpd): `GET /` (what discover sees: a 401 with that realm),
 *    `/cgi-bin/get_miner_conf.cgi`, `/cgi-bin/set_miner_conf.cgi` (keeps whatever config is
 *    posted, pools included, and takes the work mode from `miner-mode`: 0 normal, 1 sleep,
 *    3 low power; answers M000 even when it ignores the mode, as the real one does),
 *    `/cgi-bin/get_system_info.cgi`.
 * The work mode drives the SimMachine: sleep -> sleep(), normal -> run(rated), low power ->
 * run(rated × LOW_POWER_SHARE). Nonces expire after nonceTtlMs (401 stale=true); an nc used twice
 * under one nonce is refused (a replay). The machine's fault switches (hang, down, garbage) act
 * on both servers, and `faults` adds truncated replies and a connection reset mid-reply.
 * The sim does not tick its machine: the plant does (or a test, with tick()).
 */
export const REALM = 'antMiner Configuration';
/** what low-power mode draws, as a share of rated (the driver's estimate uses the same figure) */
export const LOW_POWER_SHARE = 0.7;

export interface SimAntminerOptions {
  id?: string;
  /** a loopback address of its own, e.g. 127.20.1.1 */
  host: string;
  /** the firmware's own ports by default (api 4028, web 80); 0 picks a free one */
  ports?: { api?: number; web?: number };
  /** VERSION Type, e.g. "Antminer S19 Pro" */
  model?: string;
  spec?: MachineSpec;
  username?: string;
  password?: string;
  pools?: { url: string; user: string; pass: string }[];
  /** a nonce is good this long after it was given (ms) */
  nonceTtlMs?: number;
  /** the clock nonce ages are measured on (ms); Date.now by default */
  now?: () => number;
  /** after set_miner_conf the firmware restarts bmminer: the API refuses this long (ms) */
  restartMs?: number;
  /** firmware that honours `miner-mode` only as a string (pyasic's antminer_mining_mode_as_str) */
  modeAsString?: boolean;
  /** the mode at start: 0 normal, 1 sleep, 3 low power */
  mode?: number;
}

export interface AntminerFaults {
  /** replies cut to half their length (the API still sends its NUL) */
  truncate: boolean;
  /** half a reply, then the connection reset */
  closeMid: boolean;
}

export interface WebLogEntry {
  method: string;
  path: string;
  status: number;
  /** 401s: the challenge said stale=true */
  stale?: boolean;
  /** the request carried an Authorization header */
  signed: boolean;
}


export class SimAntminer {
  readonly machine: SimMachine;
  readonly faults: AntminerFaults = { truncate: false, closeMid: false };
  /** every web request, in order (tests read it) */
  readonly webLog: WebLogEntry[] = [];
  /** every set_miner_conf body, parsed */
  readonly posts: Record<string, unknown>[] = [];
  /** the config as the firmware holds it (get_miner_conf returns it) */
  conf: Record<string, unknown>;
  model: string;
  password: string;
  readonly username: string;
  modeAsString: boolean;
  restartMs: number;
  nonceTtlMs: number;
  private readonly now: () => number;
  private readonly nonces = new Map<string, { at: number; ncs: Set<string> }>();
  private restartUntil = 0;
  private bootAt = Date.now();
  private rpc?: RpcServer;
  private web?: http.Server;
  private readonly sockets = new Set<net.Socket>();
  ports = { api: 0, web: 0 };

  constructor(readonly o: SimAntminerOptions) {
    const spec = o.spec ?? STOCK_SPEC;
    const mode = o.mode ?? 0;
    this.machine = new SimMachine(o.id ?? o.host, spec, mode === 1 ? spec.standbyKw : mode === 3 ? spec.ratedKw * LOW_POWER_SHARE : spec.ratedKw);
    if (mode === 1) this.machine.state = 'sleeping';
    this.model = o.model ?? 'Antminer S19 Pro';
    this.username = o.username ?? 'root';
    this.password = o.password ?? 'root';
    this.modeAsString = o.modeAsString ?? false;
    this.restartMs = o.restartMs ?? 0;
    this.nonceTtlMs = o.nonceTtlMs ?? 600_000;
    this.now = o.now ?? (() => Date.now());
    this.conf = defaultConf(o.pools, mode);
  }

  get host(): string {
    return this.o.host;
  }

  /** the work mode the firmware is in: 0 normal, 1 sleep, 3 low power */
  get mode(): number {
    return Number(this.conf['bitmain-work-mode'] ?? 0);
  }

  async start(): Promise<this> {
    this.rpc = await serveRpc(this.o.host, this.o.ports?.api ?? 4028, (req, socket) => this.answerRpc(req, socket));
    this.web = http.createServer((req, res) => this.answerWeb(req, res));
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

  /** every nonce given so far is now expired (the next signed request gets 401 stale=true) */
  expireNonces(): void {
    for (const n of this.nonces.values()) n.at = -Infinity;
  }

  async close(): Promise<void> {
    await this.rpc?.close();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.web ? this.web.close(() => r()) : r()));
  }

  // ---- the 4028 API ----

  private answerRpc(request: string, socket: net.Socket): string | undefined {
    const f = this.machine.faults;
    if (f.down || Date.now() < this.restartUntil) {
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
    const reply = bmminerReply(command, { machine: this.machine, model: this.model, elapsedS: Math.floor((Date.now() - this.bootAt) / 1000) });
    if (this.faults.closeMid) {
      socket.write(reply.slice(0, reply.length >> 1));
      // let the half reach the client before the reset (a reset at once can overtake it)
      setTimeout(() => socket.resetAndDestroy(), 10);
      return undefined;
    }
    return this.faults.truncate ? reply.slice(0, reply.length >> 1) : reply;
  }

  // ---- the web CGI ----

  private answerWeb(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > 256 * 1024) req.destroy();
      else chunks.push(c);
    });
    req.on('end', () => this.handleWeb(req, Buffer.concat(chunks).toString('utf8'), res));
  }

  private handleWeb(req: http.IncomingMessage, body: string, res: http.ServerResponse): void {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const f = this.machine.faults;
    const signed = req.headers.authorization !== undefined;
    if (f.hang) return;
    const auth = this.checkAuth(method, path, req.headers.authorization);
    if (auth !== 'ok') {
      this.webLog.push({ method, path, status: 401, stale: auth === 'stale', signed });
      res.writeHead(401, {
        'WWW-Authenticate': `Digest realm="${REALM}", charset="UTF-8", algorithm=MD5, nonce="${this.newNonce()}", qop="auth"${auth === 'stale' ? ', stale=true' : ''}`,
        'Content-Type': 'text/html',
      });
      res.end('<html><head><title>401 Unauthorized</title></head><body><h1>401 Unauthorized</h1></body></html>');
      return;
    }
    let status = 200;
    let out: string;
    let type = 'application/json';
    if (method === 'GET' && (path === '/' || path === '/index.html')) {
      type = 'text/html';
      out = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${this.model}</title></head><body><div id="app">Miner Status</div></body></html>`;
    } else if (method === 'GET' && path === '/cgi-bin/get_miner_conf.cgi') {
      out = JSON.stringify(this.conf);
    } else if (method === 'POST' && path === '/cgi-bin/set_miner_conf.cgi') {
      out = this.setConf(body);
    } else if (method === 'GET' && path === '/cgi-bin/get_system_info.cgi') {
      out = JSON.stringify({
        minertype: this.model,
        nettype: 'DHCP',
        netdevice: 'eth0',
        macaddr: macOf(this.o.host),
        hostname: 'Antminer',
        ipaddress: this.o.host,
        netmask: '255.255.255.0',
        system_mode: 'GNU/Linux',
        system_kernel_version: 'Linux 4.9.113 #1 SMP PREEMPT',
        system_filesystem_version: COMPILE_TIME,
        firmware_type: 'Release',
      });
    } else {
      status = 404;
      type = 'text/html';
      out = '<html><body>404 Not Found</body></html>';
    }
    this.webLog.push({ method, path, status, signed });
    if (f.garbage) {
      res.writeHead(200, { 'Content-Type': type });
      res.end(garbage());
      return;
    }
    const bytes = Buffer.from(out, 'utf8');
    if (this.faults.truncate || this.faults.closeMid) {
      // a length that promises the whole body, half of it, then the connection goes
      res.writeHead(status, { 'Content-Type': type, 'Content-Length': bytes.length });
      res.write(bytes.subarray(0, bytes.length >> 1));
      const s = res.socket;
      setTimeout(() => (this.faults.closeMid ? s?.resetAndDestroy() : s?.destroy()), 10);
      return;
    }
    res.writeHead(status, { 'Content-Type': type, 'Content-Length': bytes.length });
    res.end(bytes);
  }

  private setConf(body: string): string {
    let posted: Record<string, unknown>;
    try {
      const v: unknown = JSON.parse(body);
      if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
      posted = v as Record<string, unknown>;
    } catch {
      return JSON.stringify({ stats: 'error', code: 'M001', msg: 'Invalid config' });
    }
    this.posts.push(posted);
    const raw = posted['miner-mode'];
    const honoured = this.modeAsString ? typeof raw === 'string' && /^\d+$/.test(raw) : typeof raw === 'number';
    const mode = honoured ? Number(raw) : this.mode;
    // the CGI writes the config from what it is given: what is left out is gone
    const next: Record<string, unknown> = { ...posted };
    delete next['miner-mode'];
    next['bitmain-work-mode'] = String(mode);
    const before = this.mode;
    this.conf = next;
    if (mode !== before) this.applyMode(mode);
    if (this.restartMs > 0) {
      this.restartUntil = Date.now() + this.restartMs;
      this.bootAt = this.restartUntil;
    }
    return JSON.stringify({ stats: 'success', code: 'M000', msg: 'OK!' });
  }

  private applyMode(mode: number): void {
    const spec = this.machine.spec;
    if (mode === 1) this.machine.sleep('sleep mode');
    else if (mode === 3) this.machine.run(spec.ratedKw * LOW_POWER_SHARE, 'low power mode');
    else if (mode === 0) this.machine.run(spec.ratedKw, 'normal mode');
  }

  private newNonce(): string {
    const n = crypto.randomBytes(16).toString('hex');
    this.nonces.set(n, { at: this.now(), ncs: new Set() });
    if (this.nonces.size > 1000) this.nonces.delete(this.nonces.keys().next().value!);
    return n;
  }

  /** 'ok', 'stale' (right credentials, nonce expired or unknown), or 'refused' */
  private checkAuth(method: string, uri: string, header: string | undefined): 'ok' | 'stale' | 'refused' {
    if (!header || !/^\s*Digest\s/i.test(header)) return 'refused';
    const p = new Map<string, string>();
    for (const m of header.replace(/^\s*Digest\s+/i, '').matchAll(/([a-zA-Z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g)) {
      p.set(m[1].toLowerCase(), m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]);
    }
    const nonce = p.get('nonce') ?? '';
    if (p.get('username') !== this.username || p.get('realm') !== REALM || p.get('uri') !== uri) return 'refused';
    const md5 = (s: string) => crypto.createHash('md5').update(s).digest('hex');
    const ha1 = md5(`${this.username}:${REALM}:${this.password}`);
    const ha2 = md5(`${method}:${uri}`);
    const qop = p.get('qop');
    const nc = p.get('nc') ?? '';
    const want = qop === 'auth' ? md5(`${ha1}:${nonce}:${nc}:${p.get('cnonce') ?? ''}:auth:${ha2}`) : md5(`${ha1}:${nonce}:${ha2}`);
    if (p.get('response') !== want) return 'refused';
    const n = this.nonces.get(nonce);
    if (!n || this.now() - n.at > this.nonceTtlMs) return 'stale';
    if (qop === 'auth') {
      if (n.ncs.has(nc)) return 'refused';
      n.ncs.add(nc);
    }
    return 'ok';
  }
}

export function defaultConf(pools?: { url: string; user: string; pass: string }[], mode = 0): Record<string, unknown> {
  return {
    pools: pools ?? [
      { url: 'stratum+tcp://btc.pool.example:3333', user: 'site.worker1', pass: 'x' },
      { url: 'stratum+tcp://btc.pool.example:443', user: 'site.worker1', pass: 'x' },
      { url: 'stratum+tcp://backup.pool.example:25', user: 'site.worker1', pass: '123' },
    ],
    'api-listen': true,
    'api-network': true,
    'api-groups': 'A:stats:pools:devs:summary:version',
    'api-allow': 'A:0/0,W:*',
    'bitmain-fan-ctrl': false,
    'bitmain-fan-pwm': '100',
    'bitmain-use-vil': true,
    'bitmain-freq': '675',
    'bitmain-voltage': '1400',
    'bitmain-ccdelay': '0',
    'bitmain-pwth': '0',
    'bitmain-work-mode': String(mode),
    'bitmain-freq-level': '100',
  };
}

function garbage(): string {
  return crypto.randomBytes(48).toString('latin1').replace(/\0/g, '?');
}

function macOf(host: string): string {
  const b = crypto.createHash('md5').update(host).digest();
  return Array.from(b.subarray(0, 6), (x) => x.toString(16).padStart(2, '0')).join(':').toUpperCase();
}

export async function startSimAntminer(o: SimAntminerOptions): Promise<SimAntminer> {
  return new SimAntminer(o).start();
}
