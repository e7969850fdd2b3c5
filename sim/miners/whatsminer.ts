import { createCipheriv, createDecipheriv, createHash, randomInt } from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import { md5CryptHash } from '../../drivers/miner/whatsminer/md5crypt';
import { STOCK_SPEC, SimMachine, type MachineSpec } from './machine';
import { serveRpc, type RpcServer } from './rpc-server';
import { serveWhatsminerV3, type V3Server } from './whatsminer-v3';

/**
 * A simulated MicroBT Whatsminer: the stock firmware's APIs served for real on one loopback
 * address, over one SimMachine (state + physics).
 *
 *  - API v2 on 4028 (cgminer-style JSON, one request per connection): plain reads (`summary`,
 *    `status`, `get_version`, `devdetails`, `version`, `get_miner_info`); `get_token` issuing
 *    tokens that live 30 minutes, at most 32 live per client address (the API v2 document's
 *    limits; both adjustable); encrypted commands {"enc":1,"data":...} with the md5-crypt key and
 *    AES-256-ECB, answered encrypted; writes `power_off`, `power_on`, `set_power_pct`, `set_led`.
 *    A wrong password makes the payload undecipherable: Code 135 "check token error", in plain
 *    text, as is an expired or unknown token; a write sent in plain text gets Code 45.
 *  - API v3 on 4433 for firmware dated after 2024-11 (whatsminer-v3.ts); such firmware still
 *    answers v2 reads on 4028 but issues no v2 tokens.
 *  - the web server on 80: `GET /` answers 307 to https, the LuCI page (how open clients tell a
 *    Whatsminer by its web server).
 *
 * power_off / set.miner.service stop -> machine.sleep(); power_on / start -> machine.run(percent
 * x rated); set_power_pct / set.miner.power_percent -> machine.run(percent x rated) while running,
 * remembered while asleep. Faults: the machine's switches (hang, down, garbage) plus `replyFault`
 * (a reply cut short and closed, or the connection reset mid-reply).
 */
export interface WhatsminerSimOptions {
  id: string;
  host: string;
  /** ports to bind; the firmware's own (4028, 4433, 80) where absent, 0 for any free one; web null: none */
  ports?: { api?: number; v3?: number; web?: number | null };
  /** fw_ver: the default is API v2 firmware; a date after 2024-11 (e.g. '20250214.16.1') gives API v3 */
  firmware?: string;
  /** devdetails Model / get.device.info miner.type */
  model?: string;
  /** admin password (v2) or the v3 account's password; the firmware defaults admin / super */
  password?: string;
  account?: string;
  spec?: MachineSpec;
  /** wall clock (ms), for token lifetimes and `When`; a test passes its virtual clock */
  now?: () => number;
  tokenLifeMs?: number;
  tokensPerClient?: number;
  /** v3: how far a request's ts may be from the miner's clock (s) */
  v3WindowS?: number;
}

export const WHATSMINER_V2_FIRMWARE = '20230314.15.Rel';
export const WHATSMINER_V3_FIRMWARE = '20250214.16.1';
export const WHATSMINER_SPEC: MachineSpec = { ...STOCK_SPEC, ratedKw: 3.4, ratedThs: 112 };

const ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const salt8 = () => Array.from({ length: 8 }, () => ITOA64[randomInt(64)]).join('');
const REQUEST_LOG = 1000;
const WRITES = new Set(['power_off', 'power_on', 'set_power_pct', 'set_power_pct_v2', 'set_led', 'restart_btminer', 'reboot', 'update_pools', 'adjust_power_limit']);

interface Token {
  sign: string;
  issuedAt: number;
  client: string;
}

export interface SimRequest {
  api: 'v2' | 'v3';
  cmd: string;
  /** sent encrypted (v2) or signed (v3) */
  secured: boolean;
  client: string;
}

export class SimWhatsminer {
  readonly id: string;
  readonly host: string;
  readonly machine: SimMachine;
  readonly api: 'v2' | 'v3';
  readonly firmware: string;
  readonly model: string;
  readonly account: string;
  readonly tokenLifeMs: number;
  tokensPerClient: number;
  readonly v3WindowS: number;
  readonly now: () => number;
  /** the last requests either API took, in order (tests read it; the oldest go past REQUEST_LOG) */
  readonly requests: SimRequest[] = [];
  tokensIssued = 0;
  /** faults beyond the machine's switches: a reply cut short then closed, or reset mid-reply */
  replyFault: 'truncated' | 'reset' | undefined;
  /** the miner's clock is off by this much (ms): no NTP on an isolated site LAN */
  clockOffsetMs = 0;
  /** the power percent in force, kept while asleep */
  percent = 100;
  readonly ports: { api: number; v3?: number; web?: number } = { api: 0 };
  /** the v3 salt (fixed while the password is) */
  readonly v3Salt = salt8();

  private password: string;
  private v2Salt = salt8();
  private aesKey: Buffer;
  private tokens: Token[] = [];
  private servers: { close(): Promise<void> }[] = [];

  constructor(readonly o: WhatsminerSimOptions) {
    this.id = o.id;
    this.host = o.host;
    this.firmware = o.firmware ?? WHATSMINER_V2_FIRMWARE;
    this.api = /^(\d{8})/.test(this.firmware) && Number(this.firmware.slice(0, 8)) > 20241100 ? 'v3' : 'v2';
    this.model = o.model ?? (this.api === 'v3' ? 'M60S_VK30' : 'M30S++_VH40');
    this.account = o.account ?? 'super';
    this.password = o.password ?? (this.api === 'v3' ? 'super' : 'admin');
    this.aesKey = this.deriveKey();
    this.machine = new SimMachine(o.id, o.spec ?? WHATSMINER_SPEC);
    this.now = o.now ?? Date.now;
    this.tokenLifeMs = o.tokenLifeMs ?? 30 * 60_000;
    this.tokensPerClient = o.tokensPerClient ?? 32;
    this.v3WindowS = o.v3WindowS ?? 300;
  }

  async start(): Promise<this> {
    const p = this.o.ports ?? {};
    const api: RpcServer = await serveRpc(this.host, p.api ?? 4028, (req, socket) => this.onV2(req, socket));
    this.servers.push(api);
    this.ports.api = api.port;
    if (this.api === 'v3') {
      const v3: V3Server = await serveWhatsminerV3(this, p.v3 ?? 4433);
      this.servers.push(v3);
      this.ports.v3 = v3.port;
    }
    if (p.web !== null) {
      const web = await this.serveWeb(p.web ?? 80);
      this.servers.push(web.server);
      this.ports.web = web.port;
    }
    return this;
  }

  async close(): Promise<void> {
    await Promise.all(this.servers.splice(0).map((s) => s.close()));
  }

  /** the firmware restarted: every token it issued is forgotten */
  forgetTokens(): void {
    this.tokens = [];
  }

  /** change the password (as the operator would in the web UI): new salts, old tokens void */
  setPassword(password: string): void {
    this.password = password;
    this.v2Salt = salt8();
    this.aesKey = this.deriveKey();
    this.tokens = [];
  }

  /** note one request (both APIs) */
  noteRequest(r: SimRequest): void {
    this.requests.push(r);
    if (this.requests.length > REQUEST_LOG) this.requests.shift();
  }

  /** live tokens held by one client address */
  liveTokens(client?: string): number {
    this.expireTokens();
    return this.tokens.filter((t) => client === undefined || t.client === client).length;
  }

  /** what a hashing machine draws at `pct` (kW) */
  kwAt(pct: number): number {
    return (this.machine.spec.ratedKw * pct) / 100;
  }

  get mining(): boolean {
    return this.machine.state === 'hashing' || this.machine.state === 'waking';
  }

  /** v3 credentials check (whatsminer-v3.ts): the account, its password and the salt */
  passwordFor(account: string): string | undefined {
    return account === this.account ? this.password : undefined;
  }

  /**
   * Faults that act before the firmware reads the request: down resets the connection, hang
   * never answers. Either way the command is not carried out. True if one applied.
   */
  interceptRequest(socket: net.Socket): boolean {
    const f = this.machine.faults;
    if (f.down) {
      socket.resetAndDestroy();
      return true;
    }
    return f.hang;
  }

  /**
   * Faults that spoil the reply of a command the firmware did carry out: garbage, a reply cut
   * short and closed, a reset mid-reply. True if one applied (it has been acted on the socket).
   */
  spoilReply(socket: net.Socket, reply: Buffer): boolean {
    if (this.machine.faults.garbage) {
      socket.end(Buffer.from('\u0007garbage\u00ff{{"STATUS":', 'latin1'));
      return true;
    }
    if (this.replyFault) {
      const half = reply.subarray(0, Math.max(1, Math.floor(reply.length / 2)));
      if (this.replyFault === 'truncated') socket.end(half);
      else socket.write(half, () => socket.resetAndDestroy());
      return true;
    }
    return false;
  }

  // --- commands both APIs map onto the machine ------------------------------------------------

  powerOff(what: string): void {
    this.machine.sleep(what);
  }

  powerOn(what: string): void {
    this.machine.run(this.kwAt(this.percent), what);
  }

  setPercent(p: number, what: string): void {
    this.percent = p;
    if (this.mining) this.machine.run(this.kwAt(p), what);
  }

  // --- API v2 ---------------------------------------------------------------------------------

  private onV2(text: string, socket: net.Socket): string | undefined {
    if (this.interceptRequest(socket)) return undefined;
    const client = socket.remoteAddress ?? '';
    let reply: string;
    let req: Record<string, unknown> | undefined;
    try {
      req = JSON.parse(text) as Record<string, unknown>;
    } catch {
      req = undefined;
    }
    if (!req || typeof req !== 'object') reply = this.v2Error(23, 'invalid JSON message');
    else if (req.enc === 1 || req.enc === '1') reply = this.v2Encrypted(req, client);
    else {
      const cmd = String(req.cmd ?? req.command ?? '');
      this.noteRequest({ api: 'v2', cmd, secured: false, client });
      reply = WRITES.has(cmd) ? this.v2Error(45, 'permission denied') : this.v2Plain(cmd, client);
    }
    if (this.spoilReply(socket, Buffer.from(`${reply}\0`, 'latin1'))) return undefined;
    return reply;
  }

  private v2Encrypted(req: Record<string, unknown>, client: string): string {
    if (typeof req.data !== 'string') return this.v2Error(23, 'invalid JSON message');
    const raw = Buffer.from(req.data, 'base64');
    if (raw.length === 0 || raw.length % 16 !== 0) return this.v2Error(137, 'base64 decode error');
    let cmdObj: Record<string, unknown>;
    try {
      const d = createDecipheriv('aes-256-ecb', this.aesKey, null);
      d.setAutoPadding(false);
      const plain = Buffer.concat([d.update(raw), d.final()]).toString('utf8').replace(/\0+$/, '');
      cmdObj = JSON.parse(plain) as Record<string, unknown>;
    } catch {
      // a key from another password deciphers to noise
      this.noteRequest({ api: 'v2', cmd: '?', secured: true, client });
      return this.v2Error(135, 'check token error');
    }
    const cmd = String(cmdObj.cmd ?? cmdObj.command ?? '');
    this.noteRequest({ api: 'v2', cmd, secured: true, client });
    this.expireTokens();
    if (!this.tokens.some((t) => t.sign === cmdObj.token)) return this.v2Error(135, 'check token error');
    const out = WRITES.has(cmd) ? this.v2Write(cmd, cmdObj) : this.v2Plain(cmd, client);
    const c = createCipheriv('aes-256-ecb', this.aesKey, null);
    c.setAutoPadding(false);
    const body = Buffer.from(out, 'utf8');
    const padded = Buffer.alloc(Math.ceil(body.length / 16) * 16);
    body.copy(padded);
    return JSON.stringify({ enc: Buffer.concat([c.update(padded), c.final()]).toString('base64') });
  }

  private v2Write(cmd: string, req: Record<string, unknown>): string {
    switch (cmd) {
      case 'power_off':
        this.powerOff('power_off');
        break;
      case 'power_on':
        this.powerOn('power_on');
        break;
      case 'set_power_pct':
      case 'set_power_pct_v2': {
        const p = Number(req.percent);
        if (!Number.isInteger(p) || p < 0 || p > 100) return this.v2Error(132, 'command error');
        this.setPercent(p, `${cmd} ${p}`);
        break;
      }
      default:
        break;
    }
    return this.v2Ok('API command OK');
  }

  private v2Plain(cmd: string, client: string): string {
    const when = this.when();
    const st = (code: number, msg: string) => [{ STATUS: 'S', When: when, Code: code, Msg: msg, Description: 'btminer' }];
    const m = this.machine;
    switch (cmd) {
      case 'get_token': {
        if (this.api === 'v3') return this.v2Error(14, 'invalid cmd');
        if (this.liveTokens(client) >= this.tokensPerClient) return this.v2Error(136, 'over max connect');
        const time = String(when);
        const newsalt = salt8();
        this.tokens.push({ sign: md5CryptHash(md5CryptHash(this.password, this.v2Salt) + time, newsalt), issuedAt: this.now(), client });
        this.tokensIssued++;
        return JSON.stringify({ STATUS: 'S', When: when, Code: 134, Msg: { time, salt: this.v2Salt, newsalt }, Description: '' });
      }
      case 'get_version':
        return this.v2Ok({ api_ver: this.api === 'v3' ? '2.0.6' : '2.0.5', fw_ver: this.firmware, platform: 'H6OS', chip: 'H616' });
      case 'status':
        return this.v2Ok({ mineroff: this.mining ? 'false' : 'true', mineroff_reason: '', btmineroff: 'false', 'Firmware Version': `'${this.firmware}'` });
      case 'summary':
        return JSON.stringify({
          STATUS: st(11, 'Summary'),
          SUMMARY: [{
            Elapsed: 3600,
            'MHS av': m.ths * 1e6,
            'MHS 1m': m.ths * 1e6,
            Temperature: Math.round(m.tempC * 10) / 10,
            'Fan Speed In': 4800,
            'Fan Speed Out': 4850,
            Power: Math.round(m.kw * 1000),
            'Power Limit': Math.round(m.spec.ratedKw * 1000),
            'Chip Temp Max': Math.round((m.tempC + 12) * 10) / 10,
            'Power Mode': 'Normal',
            'Factory GHS': m.spec.ratedThs * 1000,
            'Firmware Version': `'${this.firmware}'`,
            MAC: 'C6:07:20:00:21:01',
          }],
        });
      case 'devdetails':
        return JSON.stringify({
          STATUS: st(69, 'Device Details'),
          DEVDETAILS: [0, 1, 2].map((i) => ({ DEVDETAILS: i, Name: 'SM', ID: i, Driver: 'bitmicro', Kernel: '', Model: this.model })),
        });
      case 'version':
        return JSON.stringify({ STATUS: st(22, 'BTMiner versions'), VERSION: [{ BTMiner: '3.6.0', API: '3.7', 'Firmware Version': `'${this.firmware}'`, Type: this.model.split('_')[0] }] });
      case 'get_miner_info':
        return this.v2Ok({ ip: this.host, proto: 'dhcp', hostname: `WhatsMiner-${this.id}`, mac: 'C6:07:20:00:21:01', ledstat: 'auto' });
      default:
        return this.v2Error(14, 'invalid cmd');
    }
  }

  private v2Ok(msg: unknown): string {
    return JSON.stringify({ STATUS: 'S', When: this.when(), Code: 131, Msg: msg, Description: '' });
  }

  private v2Error(code: number, msg: string): string {
    return JSON.stringify({ STATUS: 'E', When: this.when(), Code: code, Msg: msg, Description: '' });
  }

  /** the miner's clock in Unix seconds */
  when(): number {
    return Math.floor((this.now() + this.clockOffsetMs) / 1000);
  }

  private expireTokens(): void {
    const now = this.now();
    this.tokens = this.tokens.filter((t) => now - t.issuedAt < this.tokenLifeMs);
  }

  private deriveKey(): Buffer {
    return createHash('sha256').update(md5CryptHash(this.password, this.v2Salt), 'utf8').digest();
  }

  // --- web ------------------------------------------------------------------------------------

  private serveWeb(port: number): Promise<{ server: { close(): Promise<void> }; port: number }> {
    const server = http.createServer((req, res) => {
      if (this.machine.faults.down) return req.socket.resetAndDestroy();
      if (this.machine.faults.hang) return;
      const location = `https://${this.host}/cgi-bin/luci`;
      res.writeHead(307, { location, 'content-type': 'text/html' });
      res.end(`<html><body><a href="${location}">/cgi-bin/luci</a></body></html>`);
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.host, () => {
        const p = (server.address() as net.AddressInfo).port;
        resolve({ port: p, server: { close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) } });
      });
    });
  }
}

export function startSimWhatsminer(o: WhatsminerSimOptions): Promise<SimWhatsminer> {
  return new SimWhatsminer(o).start();
}
