import { EventEmitter } from 'node:events';
import crypto from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';

/**
 * A small site controller: the far end of the agent's uplink (protocol v1, DESIGN.md §4), for
 * tests, `hashflex sim` and the fleet bench. It checks the bearer token at the HTTP upgrade
 * (401 otherwise), records hello/telemetry/events/acks per agent, stores each seq once (a resent
 * duplicate is counted, not stored again), answers `received` for what it stored, and sends
 * commands whose promise resolves with the agent's ack. As a program: sim/controller-main.ts.
 *
 * Like the rest of sim/, it does not import agent/ code: the frames are typed loosely here so the
 * simulator keeps speaking the wire contract, not the agent's internals.
 *
 * Events: 'connection' (agentId), 'hello' | 'telemetry' | 'event' | 'ack' (frame, agentId),
 * 'disconnect' (agentId), 'invalid' (text, agentId?).
 */

export type Frame = { type: string; seq?: number; [k: string]: unknown };
export type AckFrame = { type: 'ack'; id: string; ok: boolean; error?: string };

export interface AgentRecord {
  id: string;
  hello: Frame;
  hellos: number;
  connected: boolean;
  telemetry: Frame[];
  events: Frame[];
  acks: AckFrame[];
  /** stored seqs, in the order stored (strictly increasing by construction) */
  stored: number[];
  /** every seq as it arrived, duplicates included; a hello is recorded as -1 */
  arrivals: number[];
  duplicates: number;
  lastSeq: number;
}

export interface SimControllerOptions {
  /** 0 or absent: a free port */
  port?: number;
  host?: string;
  /** bearer token the agents must present; absent = no auth */
  token?: string;
  /** PEM key and certificate: serve wss:// */
  tls?: { key: string | Buffer; cert: string | Buffer };
  /** answer `received` automatically (default true); false lets a test hold confirmations back */
  autoReceive?: boolean;
  /** how long command() waits for an ack (ms, default 10,000) */
  commandTimeoutMs?: number;
  /** keep at most this many telemetry frames per agent (default 100,000) */
  keep?: number;
}

export interface SimController extends EventEmitter {
  readonly url: string;
  readonly port: number;
  readonly agents: Map<string, AgentRecord>;
  /** answer `received` automatically; may be switched at any time */
  autoReceive: boolean;
  latest(agentId?: string): Frame | undefined;
  command(agentId: '*', action: string, extra?: Record<string, unknown>): Promise<AckFrame[]>;
  command(agentId: string, action: string, extra?: Record<string, unknown>): Promise<AckFrame>;
  /** send any text to an agent (tests of malformed frames) */
  sendRaw(agentId: string, text: string | Buffer): void;
  /** confirm storage up to seq by hand (with autoReceive false) */
  receive(agentId: string, seq?: number): void;
  /** drop the connection(s) without a closing handshake */
  drop(agentId?: string): void;
  close(): Promise<void>;
}

export async function startSimController(opts: SimControllerOptions = {}): Promise<SimController> {
  const c = new Controller(opts);
  await c.listen(opts.port ?? 0, opts.host ?? '127.0.0.1');
  return c;
}

function sameToken(got: string, want: string): boolean {
  const a = crypto.createHash('sha256').update(got).digest();
  const b = crypto.createHash('sha256').update(want).digest();
  return crypto.timingSafeEqual(a, b);
}

class Controller extends EventEmitter implements SimController {
  readonly agents = new Map<string, AgentRecord>();
  private readonly server: http.Server;
  private readonly wss: WebSocketServer;
  private readonly sockets = new Map<string, WebSocket>();
  private readonly waiting = new Map<string, { resolve: (a: AckFrame) => void; timer: NodeJS.Timeout }>();
  private readonly toConfirm = new Set<string>();
  private nextId = 0;
  private boundPort = 0;
  private readonly scheme: string;
  autoReceive: boolean;

  constructor(private readonly opts: SimControllerOptions) {
    super();
    this.autoReceive = opts.autoReceive !== false;
    this.scheme = opts.tls ? 'wss' : 'ws';
    this.server = opts.tls ? https.createServer({ key: opts.tls.key, cert: opts.tls.cert }) : http.createServer();
    this.server.on('request', (_req, res) => res.writeHead(426, { 'content-type': 'text/plain' }).end('websocket only\n'));
    this.wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });
    this.server.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head));
  }

  get port(): number {
    return this.boundPort;
  }

  get url(): string {
    return `${this.scheme}://127.0.0.1:${this.boundPort}/uplink`;
  }

  listen(port: number, host: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.boundPort = (this.server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  latest(agentId?: string): Frame | undefined {
    const rec = agentId ? this.agents.get(agentId) : [...this.agents.values()].at(-1);
    return rec?.telemetry.at(-1);
  }

  command(agentId: string, action: string, extra?: Record<string, unknown>): Promise<any> {
    if (agentId === '*') return Promise.all([...this.sockets.keys()].map((id) => this.command(id, action, extra)));
    const ws = this.sockets.get(agentId);
    if (!ws) return Promise.reject(new Error(`agent ${agentId} is not connected`));
    const id = `c${++this.nextId}`;
    return new Promise<AckFrame>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`no ack for ${action} ${id} from ${agentId}`));
      }, this.opts.commandTimeoutMs ?? 10_000);
      this.waiting.set(id, { resolve, timer });
      ws.send(JSON.stringify({ ...extra, type: 'command', id, action }));
    });
  }

  sendRaw(agentId: string, text: string | Buffer): void {
    this.sockets.get(agentId)?.send(text);
  }

  receive(agentId: string, seq?: number): void {
    const rec = this.agents.get(agentId);
    this.sockets.get(agentId)?.send(JSON.stringify({ type: 'received', seq: seq ?? rec?.lastSeq ?? 0 }));
  }

  drop(agentId?: string): void {
    for (const [id, ws] of this.sockets) if (!agentId || id === agentId) ws.terminate();
  }

  async close(): Promise<void> {
    for (const w of this.waiting.values()) clearTimeout(w.timer);
    this.waiting.clear();
    for (const ws of this.wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const want = this.opts.token;
    const auth = req.headers.authorization ?? '';
    const m = /^Bearer (.+)$/.exec(auth);
    if (want !== undefined && (!m || !sameToken(m[1], want))) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.attach(ws));
  }

  private attach(ws: WebSocket): void {
    let agentId: string | undefined;
    ws.on('message', (data, isBinary) => {
      const text = data.toString();
      let f: Frame;
      try {
        f = JSON.parse(text);
        if (isBinary || typeof f !== 'object' || f === null || typeof f.type !== 'string') throw new Error('not a frame');
      } catch {
        this.emit('invalid', text, agentId);
        return;
      }
      if (f.type === 'hello') {
        agentId = String(f.agent);
        const old = this.sockets.get(agentId);
        if (old && old !== ws) old.terminate();
        this.sockets.set(agentId, ws);
        const rec = this.record(agentId, f);
        rec.hello = f;
        rec.hellos++;
        rec.connected = true;
        rec.arrivals.push(-1);
        this.emit('connection', agentId);
        this.emit('hello', f, agentId);
        return;
      }
      const rec = agentId ? this.agents.get(agentId) : undefined;
      if (!rec || !agentId) {
        this.emit('invalid', text, agentId);
        return;
      }
      if (f.type === 'telemetry' || f.type === 'event') this.store(rec, f);
      else if (f.type === 'ack') this.onAck(rec, f as unknown as AckFrame);
      else this.emit('invalid', text, agentId);
    });
    ws.on('close', () => {
      if (agentId && this.sockets.get(agentId) === ws) {
        this.sockets.delete(agentId);
        const rec = this.agents.get(agentId);
        if (rec) rec.connected = false;
        this.emit('disconnect', agentId);
      }
    });
    ws.on('error', () => { /* a broken agent socket is just closed */ });
  }

  private record(id: string, hello: Frame): AgentRecord {
    let rec = this.agents.get(id);
    if (!rec) {
      rec = {
        id, hello, hellos: 0, connected: true, telemetry: [], events: [], acks: [],
        stored: [], arrivals: [], duplicates: 0, lastSeq: 0,
      };
      this.agents.set(id, rec);
    }
    return rec;
  }

  private store(rec: AgentRecord, f: Frame): void {
    const seq = typeof f.seq === 'number' ? f.seq : NaN;
    rec.arrivals.push(seq);
    if (!(seq > rec.lastSeq)) {
      rec.duplicates++;
    } else {
      rec.lastSeq = seq;
      rec.stored.push(seq);
      if (f.type === 'telemetry') {
        rec.telemetry.push(f);
        if (rec.telemetry.length > (this.opts.keep ?? 100_000)) rec.telemetry.shift();
      } else rec.events.push(f);
      this.emit(f.type, f, rec.id);
    }
    if (!this.autoReceive) return;
    // one `received` per burst, not per frame: a 10,000-frame resend gets a few dozen
    if (this.toConfirm.has(rec.id)) return;
    this.toConfirm.add(rec.id);
    setImmediate(() => {
      this.toConfirm.delete(rec.id);
      if (rec.lastSeq > 0) this.receive(rec.id, rec.lastSeq);
    });
  }

  private onAck(rec: AgentRecord, a: AckFrame): void {
    rec.acks.push(a);
    this.emit('ack', a, rec.id);
    const w = this.waiting.get(a.id);
    if (w) {
      clearTimeout(w.timer);
      this.waiting.delete(a.id);
      w.resolve(a);
    }
  }
}
