import crypto from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import { SimMachine, type MachineSpec } from './machine';
import { LUXOS_MODEL, LUXOS_SPEC, luxosProfiles, pickProfile, readReply, reply, type LuxosView, type Reply, type SimProfile } from './luxos-api';
import { parseRequest } from './avalon';
import { serveRpc, type RpcServer } from './rpc-server';

export { LUXOS_FIRMWARE, LUXOS_MODEL, LUXOS_SPEC, luxosProfiles, luxosSettings, type SimProfile } from './luxos-api';

/**
 * A simulated Antminer on LuxOS (Luxor's firmware), served for real on its own loopback address:
 *  - the LUXminer API on TCP 4028 (luxos-api.ts for the replies): reads `version`, `devdetails`,
 *    `summary`, `power`, `stats`, `config`, `profiles`, `session`, several at once joined by "+";
 *    the session commands `logon`, `logoff`, `kill`; and the writes that need the session as
 *    their first parameter: `curtail` sleep / wakeup, `profileset` (a name, or LuxOS's W / kW /
 *    THs selectors, or the legacy `<board>,<name>` form), `ledset`.
 *  - ONE session at a time, as LuxOS: a logon while one is live is refused (code 402 "Another
 *    session is active"), and a session ends `sessionIdleMs` (one minute) after its last use, on
 *    the simulator's clock (`now`: a test passes its virtual clock). `stealSession()` is another
 *    client killing ours and logging on; `dropSessions()` the firmware restarting.
 *  - the web UI on 80: `GET /` is the page that says "Luxor Firmware" (how pyasic tells LuxOS).
 *  - its power ramps: curtail sleep turns the hashboards and PSU off over the machine's stopMs, a
 *    wakeup ramps back like a reboot (wakeMs), a profile change ramps frequency and voltage in
 *    steps (rampMs); a profile set while asleep applies at the wakeup.
 * Faults: the machine's switches (hang: accepted and never answered; down: connections reset;
 * garbage: bytes that are not JSON) on both servers, and LuxosFaults for bad replies. The sim does
 * not tick its machine unless `tickMs` is given: the plant or the test does.
 */
export interface LuxosSimOptions {
  id?: string;
  host: string;
  /** the firmware's own ports by default (api 4028, web 80); 0 picks a free one; web null: none */
  ports?: { api?: number; web?: number | null };
  /** VERSION Type */
  model?: string;
  spec?: MachineSpec;
  /** the machine the plant drives; a new one from spec if absent */
  machine?: SimMachine;
  /** the clock sessions age on and STATUS When tells (ms); Date.now by default */
  now?: () => number;
  /** a session ends this long after its last use (ms) */
  sessionIdleMs?: number;
  /** start curtailed (asleep), and at which profile */
  curtailed?: boolean;
  profile?: string;
  /** run the machine's physics on a real timer every tickMs (0: the plant or the test ticks it) */
  tickMs?: number;
}

export interface LuxosFaults {
  /** the raw text a command answers with instead of its reply (bad replies, by command) */
  override: Partial<Record<string, string>>;
  /** curtail is answered "sent" and not carried out */
  ignoreCurtail: boolean;
  /** the reply cut to half and the connection closed */
  truncate: boolean;
}

export interface LuxosRequest {
  at: number;
  command: string;
  parameter?: string;
  /** the session the request carried was the live one */
  session?: 'valid' | 'refused';
  outcome: 'answered' | 'hung' | 'garbage' | 'reset' | 'truncated' | 'held';
}

/** a request a test holds on the wire until it lets it go */
interface Hold {
  command: string;
  reached: () => void;
  released: Promise<void>;
  release: () => void;
}

const SESSION_COMMANDS = new Set(['curtail', 'profileset', 'ledset', 'logoff']);
const LED_STATES = new Set(['on', 'off', 'blink']);
const REQUEST_LOG = 2000;

export class LuxosSim {
  readonly machine: SimMachine;
  readonly profiles: SimProfile[];
  readonly faults: LuxosFaults = { override: {}, ignoreCurtail: false, truncate: false };
  /** every request the API took, in order (the oldest go past REQUEST_LOG) */
  readonly requests: LuxosRequest[] = [];
  readonly model: string;
  readonly sessionIdleMs: number;
  readonly ports = { api: 0, web: 0 };
  profile: string;
  curtailed: boolean;
  redLed = 'off';
  atm = false;
  /** sessions issued so far, to anyone */
  logons = 0;
  private session?: { id: string; usedAt: number };
  private readonly now: () => number;
  private readonly bootAt: number;
  private readonly holds: Hold[] = [];
  private rpc?: RpcServer;
  private web?: http.Server;
  private ticker?: NodeJS.Timeout;
  private readonly sockets = new Set<net.Socket>();

  constructor(readonly o: LuxosSimOptions) {
    const spec = o.spec ?? o.machine?.spec ?? LUXOS_SPEC;
    this.profiles = luxosProfiles(spec);
    this.model = o.model ?? LUXOS_MODEL;
    this.profile = o.profile ?? 'default';
    this.curtailed = o.curtailed ?? false;
    this.now = o.now ?? Date.now;
    this.bootAt = this.now();
    this.sessionIdleMs = o.sessionIdleMs ?? 60_000;
    const kw = this.curtailed ? spec.standbyKw : this.profileKw();
    this.machine = o.machine ?? new SimMachine(o.id ?? o.host, spec, kw);
    if (this.curtailed) this.machine.state = 'sleeping';
  }

  get host(): string {
    return this.o.host;
  }

  async start(): Promise<this> {
    this.rpc = await serveRpc(this.o.host, this.o.ports?.api ?? 4028, (req, socket) => this.serve(req, socket));
    this.ports.api = this.rpc.port;
    if (this.o.ports?.web !== null) {
      this.web = http.createServer((req, res) => this.serveWeb(req, res));
      this.web.on('connection', (s: net.Socket) => {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        if (this.machine.faults.down) s.resetAndDestroy();
      });
      await new Promise<void>((resolve, reject) => {
        this.web!.once('error', reject);
        this.web!.listen(this.o.ports?.web ?? 80, this.o.host, () => resolve());
      });
      this.ports.web = (this.web.address() as net.AddressInfo).port;
    }
    if (this.o.tickMs) {
      let last = Date.now();
      this.ticker = setInterval(() => { const t = Date.now(); this.machine.tick(t - last); last = t; }, this.o.tickMs);
      this.ticker.unref();
    }
    return this;
  }

  async close(): Promise<void> {
    clearInterval(this.ticker);
    for (const h of this.holds.splice(0)) h.release();
    await this.rpc?.close();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.web ? this.web.close(() => r()) : r()));
  }

  tick(dtMs: number): void {
    this.machine.tick(dtMs);
  }

  /** the live session's id, if one is (ending it first if it has been idle too long) */
  liveSession(): string | undefined {
    if (this.session && this.now() - this.session.usedAt > this.sessionIdleMs) this.session = undefined;
    return this.session?.id;
  }

  /** another client kills the session and logs on: its session is live from now */
  stealSession(): string {
    return this.issueSession();
  }

  /** the firmware restarts its API: every session is gone */
  dropSessions(): void {
    this.session = undefined;
  }

  /**
   * Hold the next request for `command` on the wire: `reached` resolves when it has arrived, and
   * it is answered once `release()` is called (a write under way when a stop comes).
   */
  holdNext(command: string): { reached: Promise<void>; release: () => void } {
    let release!: () => void;
    let reached!: () => void;
    const arrived = new Promise<void>((r) => { reached = r; });
    const released = new Promise<void>((r) => { release = r; });
    this.holds.push({ command, reached, released, release });
    return { reached: arrived, release };
  }

  /** the profile's power (kW) */
  profileKw(name = this.profile): number {
    const p = this.profiles.find((x) => x.name === name) ?? this.profiles.find((x) => x.step === 0)!;
    return p.watts / 1000;
  }

  private issueSession(): string {
    this.session = { id: newSessionId(), usedAt: this.now() };
    this.logons++;
    return this.session.id;
  }

  // ---- the 4028 API ----

  private async serve(raw: string, socket: net.Socket): Promise<string | undefined> {
    const { command, parameter } = parseRequest(raw);
    const entry: LuxosRequest = { at: this.now(), command, parameter, outcome: 'answered' };
    this.requests.push(entry);
    if (this.requests.length > REQUEST_LOG) this.requests.shift();
    const f = this.machine.faults;
    if (f.down) {
      entry.outcome = 'reset';
      socket.resetAndDestroy();
      return undefined;
    }
    if (f.hang) {
      entry.outcome = 'hung';
      return undefined;
    }
    const hold = this.holds.findIndex((h) => h.command === command);
    if (hold >= 0) {
      const h = this.holds.splice(hold, 1)[0];
      entry.outcome = 'held';
      h.reached();
      await h.released;
      entry.outcome = 'answered';
    }
    if (f.garbage) {
      entry.outcome = 'garbage';
      return crypto.randomBytes(48).toString('latin1').replace(/\0/g, '?');
    }
    const text = this.faults.override[command] ?? JSON.stringify(this.answer(command, parameter, entry));
    if (this.faults.truncate) {
      entry.outcome = 'truncated';
      socket.end(text.slice(0, text.length >> 1));
      return undefined;
    }
    return text;
  }

  private view(): LuxosView {
    const now = this.now();
    return {
      machine: this.machine, model: this.model, profiles: this.profiles, profile: this.profile, curtailed: this.curtailed,
      redLed: this.redLed, atm: this.atm, host: this.o.host, elapsedS: Math.max(0, Math.floor((now - this.bootAt) / 1000)), whenS: Math.floor(now / 1000),
    };
  }

  private answer(command: string, parameter: string | undefined, entry: LuxosRequest): Reply {
    const v = this.view();
    if (command.includes('+')) {
      // cgminer's multi-command: each reply in a list under its command's name
      const out: Reply = {};
      for (const c of command.split('+')) out[c] = [this.answer(c, undefined, entry)];
      return { ...out, id: 1 };
    }
    const read = readReply(command, v);
    if (read) return read;
    const args = (parameter ?? '').split(',');
    switch (command) {
      case 'logon': {
        if (this.liveSession()) return reply(v, 'E', 402, 'Another session is active');
        const id = this.issueSession();
        return reply(v, 'S', 316, 'Session created', { SESSION: [{ SessionID: id }] });
      }
      case 'session':
        return reply(v, 'S', 319, 'Session information', { SESSION: [{ SessionID: this.liveSession() ?? '' }] });
      case 'kill':
        this.session = undefined;
        return reply(v, 'S', 318, 'Session killed');
      default:
        break;
    }
    if (!SESSION_COMMANDS.has(command)) return reply(v, 'E', 14, 'Invalid command');
    // the refusal's code and text are this simulator's: Luxor's pages do not show one
    if (!args[0] || args[0] !== this.liveSession()) {
      entry.session = 'refused';
      return reply(v, 'E', 400, `Invalid session id: ${args[0] || 'none given'}`);
    }
    entry.session = 'valid';
    this.session!.usedAt = this.now();
    return this.write(command, args.slice(1), v);
  }

  private write(command: string, args: string[], v: LuxosView): Reply {
    switch (command) {
      case 'logoff':
        this.session = undefined;
        return reply(v, 'S', 317, 'Session ended');
      case 'ledset':
        if (args[0] !== 'red' || !LED_STATES.has(args[1] ?? '')) return reply(v, 'E', 45, `Invalid LED parameters: ${args.join(',')}`);
        this.redLed = args[1];
        return reply(v, 'S', 337, 'LED set', { LED: [{ Color: 'red', State: args[1] }] });
      case 'curtail':
        return this.curtail(args[0], v);
      case 'profileset': {
        // the legacy form named a board first: a 0..3 before the name is taken as that and ignored
        const wanted = /^[0-3]$/.test(args[0] ?? '') && args.length > 1 ? args[1] : args[0];
        const p = pickProfile(this.profiles, wanted ?? '');
        if (!p) return reply(v, 'E', 322, `Profile not found: ${wanted ?? ''}`);
        this.profile = p.name;
        if (!this.curtailed) this.machine.run(p.watts / 1000, `profileset ${p.name}`);
        return reply(v, 'S', 321, 'Profile Set', { PROFILE: [{ Board: 0, FrequencyStep: 5, Profile: p.name, VoltageStep: 0.05 }] });
      }
      default:
        return reply(v, 'E', 14, 'Invalid command');
    }
  }

  private curtail(action: string | undefined, v: LuxosView): Reply {
    if (action !== 'sleep' && action !== 'wakeup') return reply(v, 'E', 336, `Invalid curtail action: ${action ?? ''}`);
    if (!this.faults.ignoreCurtail) {
      if (action === 'sleep') {
        this.curtailed = true;
        this.machine.sleep('curtail sleep');
      } else if (this.curtailed) {
        this.curtailed = false;
        this.machine.run(this.profileKw(), 'curtail wakeup');
      }
    }
    return reply(v, 'S', 335, 'Curtailment command sent', { CURTAIL: [{ Action: action === 'sleep' ? 'sleep mode' : 'wake up' }] });
  }

  // ---- the web UI ----

  private serveWeb(req: http.IncomingMessage, res: http.ServerResponse): void {
    const f = this.machine.faults;
    if (f.down) return void req.socket.resetAndDestroy();
    if (f.hang) return;
    const body = f.garbage
      ? crypto.randomBytes(48).toString('latin1')
      : req.url === '/' || req.url === '/index.html'
        ? '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Luxor Firmware</title></head><body><div id="root">LuxOS</div></body></html>'
        : '<html><body>404 Not Found</body></html>';
    const found = f.garbage || req.url === '/' || req.url === '/index.html';
    res.writeHead(found ? 200 : 404, { 'content-type': 'text/html', 'content-length': Buffer.byteLength(body, 'latin1') });
    res.end(body, 'latin1');
  }
}

/** eight letters and digits, as LuxOS's session ids ("yJN2nlj1") */
function newSessionId(): string {
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(crypto.randomBytes(8), (b) => abc[b % abc.length]).join('');
}

export function startLuxosSim(o: LuxosSimOptions): Promise<LuxosSim> {
  return new LuxosSim(o).start();
}
