import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import WebSocket from 'ws';
import { type Clock, type Timer, realClock } from '../clock';
import { logger } from '../log';
import type { Journal } from './journal';
import {
  type AckFrame, type Command, type EventBody, type HelloFrame, type TelemetryBody,
  PROTOCOL_VERSION, ackFrame, parseCommand,
} from './protocol';

/**
 * The agent's WebSocket link to the site controller (protocol v1, DESIGN.md §4).
 *
 * Reports go journal-first: telemetry()/event() store the frame and it is sent once the journal
 * says it is on disk (at once in 'full' mode, after the background fsync in 'async' mode). On every (re)connect the uplink says hello and
 * resends everything the journal still holds, in seq order, in batches paced by the socket's
 * write callbacks so a 10,000-frame backlog never sits in memory at once. Live frames queue
 * behind the backlog, so the controller sees seq strictly in order.
 *
 * Commands: valid ones are emitted as 'command' (the agent acts, then calls ack()); anything
 * malformed, unknown or out of range is answered here with ack ok:false and never emitted.
 * Oversized frames close the socket (ws maxPayload, code 1009); a flood of commands is dropped
 * beyond a token bucket and, if it goes on, the connection is cut (1008) and retried with
 * backoff. `curtail` is never dropped: it is the safe direction, and losing a trip behind a
 * flood would be worse than honouring a repeated one.
 *
 * Events: 'connected' (), 'disconnected' ({ code, reason }), 'command' (Command),
 * 'auth_failed' (httpStatus), 'rejected' ({ id, error }), and 'telemetry' / 'event' (the frame
 * object, after it was journaled) for local consumers such as the status server.
 */

export interface UplinkOptions {
  url: string;
  token?: string;
  /** PEM file of the CA that signed the controller's certificate, for wss:// with a private CA */
  caFile?: string;
  agentId: string;
  version: string;
  bootId: string;
  journal: Journal;
  /** reconnect backoff: first delay and ceiling (ms). Defaults 500 and 30,000 */
  backoff?: { minMs?: number; maxMs?: number };
  /** largest frame accepted from the controller (bytes). Default 64 KiB; commands are < 200 B */
  maxPayload?: number;
  /** keepalive ping period (ms); a missing pong by the next period drops the link. Default 15,000 */
  pingMs?: number;
  /** commands per second allowed (burst = 5 s worth); drops beyond, cut after `cutAfter` drops */
  commandRate?: number;
  cutAfter?: number;
  /** jitter source, injectable for tests */
  random?: () => number;
}

export interface UplinkStats {
  connects: number;
  disconnects: number;
  authFailures: number;
  sent: number;
  commands: number;
  rejected: number;
  floodDropped: number;
  floodCuts: number;
  oversized: number;
  journalErrors: number;
  pings: number;
  pongs: number;
  lastError?: string;
}

/** frames read from the journal per batch during a resend */
const BATCH = 256;
/** a connection must stay up this long before the backoff starts again from minMs */
const STABLE_MS = 10_000;
const MAX_PENDING_ACKS = 64;

export class Uplink extends EventEmitter {
  readonly stats: UplinkStats = {
    connects: 0, disconnects: 0, authFailures: 0, sent: 0, commands: 0, rejected: 0,
    floodDropped: 0, floodCuts: 0, oversized: 0, journalErrors: 0, pings: 0, pongs: 0,
  };
  private readonly log = logger('uplink');
  private readonly journal: Journal;
  private readonly ca?: Buffer;
  private ws?: WebSocket;
  private isOpen = false;
  private stopped = true;
  /** highest seq handed to the socket on this connection */
  private cursor = 0;
  private batchInFlight = false;
  private attempt = 0;
  private retryTimer?: Timer;
  private stableTimer?: Timer;
  private pingTimer?: Timer;
  private awaitingPong = false;
  private pendingAcks: AckFrame[] = [];
  private receivedUpTo = 0;
  private ackScheduled = false;
  private tokens: number;
  private tokensAt: number;
  private droppedOnThisLink = 0;

  constructor(private readonly opts: UplinkOptions, private readonly clock: Clock = realClock) {
    super();
    this.journal = opts.journal;
    // read once at construction: a missing CA file is a config error, found before any connect
    if (opts.caFile) this.ca = fs.readFileSync(opts.caFile);
    this.tokens = this.burst;
    this.tokensAt = clock.monotonic();
  }

  /** the journal's background fsync finished: frames up to its seq may now go out */
  private readonly onDurable = (): void => this.pump();

  get connected(): boolean {
    return this.isOpen;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.journal.on('durable', this.onDurable);
    this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.journal.off('durable', this.onDurable);
    this.retryTimer?.cancel();
    this.clearLinkTimers();
    const ws = this.ws;
    this.ws = undefined;
    this.isOpen = false;
    this.batchInFlight = false;
    if (!ws || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      ws.once('close', () => resolve());
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(1001, 'agent stopping');
      // shutdown guard only (not control logic): a peer that never completes the closing
      // handshake must not hold the agent's exit, so this uses the real timer on purpose
      setTimeout(() => ws.terminate(), 1000).unref();
    });
  }

  /** journal a telemetry frame, then send it if connected; returns its seq (-1 if the journal failed) */
  telemetry(body: TelemetryBody): number {
    return this.report('telemetry', body);
  }

  /** journal an event frame (trip, release, fault, recover), then send it if connected */
  event(body: EventBody): number {
    return this.report('event', body);
  }

  /** answer a command; kept briefly in memory if the link is down, sent after the next hello */
  ack(id: string, ok: boolean, error?: string): void {
    const frame = ackFrame(id, ok, error);
    if (this.isOpen && this.ws) this.ws.send(JSON.stringify(frame));
    else {
      this.pendingAcks.push(frame);
      if (this.pendingAcks.length > MAX_PENDING_ACKS) this.pendingAcks.shift();
    }
  }

  private get burst(): number {
    return (this.opts.commandRate ?? 20) * 5;
  }

  private report(kind: 'telemetry' | 'event', body: object): number {
    const ts = new Date(this.clock.now()).toISOString();
    let row;
    let frame: object | undefined;
    try {
      row = this.journal.append(kind, (seq) => {
        // head fields first, and again last so a body can never override them
        frame = Object.assign({ type: kind, seq, ts }, body, { type: kind, seq, ts });
        return JSON.stringify(frame);
      });
    } catch (e) {
      this.stats.journalErrors++;
      this.stats.lastError = (e as Error).message;
      this.log.error({ err: e }, 'journal append failed');
      return -1;
    }
    if (this.isOpen && this.ws && !this.batchInFlight && this.cursor === row.seq - 1 && row.seq <= this.journal.durableSeq) {
      this.ws.send(row.text);
      this.cursor = row.seq;
      this.stats.sent++;
    } else this.pump();
    // local consumers (the status server's live view) get the frame as journaled; their
    // failures are theirs, never the caller's
    try {
      this.emit(kind, frame);
    } catch (e) {
      this.log.error({ err: e }, `${kind} listener threw`);
    }
    return row.seq;
  }

  /** send the next batch from the journal; the last frame's write callback sends the next one */
  private pump(): void {
    const ws = this.ws;
    if (!this.isOpen || !ws || this.batchInFlight) return;
    const rows = this.journal.after(this.cursor, BATCH);
    if (rows.length === 0) return;
    this.batchInFlight = true;
    for (let i = 0; i < rows.length - 1; i++) ws.send(rows[i].text);
    ws.send(rows[rows.length - 1].text, (err) => {
      if (ws !== this.ws) return;
      this.batchInFlight = false;
      if (!err) this.pump();
    });
    this.cursor = rows[rows.length - 1].seq;
    this.stats.sent += rows.length;
  }

  private connect(): void {
    if (this.stopped) return;
    const headers: Record<string, string> = {};
    if (this.opts.token) headers.Authorization = `Bearer ${this.opts.token}`;
    const ws = new WebSocket(this.opts.url, {
      headers,
      ca: this.ca,
      maxPayload: this.opts.maxPayload ?? 64 * 1024,
      handshakeTimeout: 10_000,
      perMessageDeflate: false,
    });
    this.ws = ws;
    ws.on('open', () => this.onOpen(ws));
    ws.on('message', (data, isBinary) => {
      if (ws === this.ws) this.onMessage(data as Buffer, isBinary);
    });
    ws.on('pong', () => { this.awaitingPong = false; this.stats.pongs++; });
    ws.on('error', (e: Error & { code?: string }) => {
      this.stats.lastError = e.message;
      const m = /Unexpected server response: (\d+)/.exec(e.message);
      if (m && (m[1] === '401' || m[1] === '403')) {
        this.stats.authFailures++;
        this.log.error({ status: Number(m[1]) }, 'controller refused our token');
        this.emit('auth_failed', Number(m[1]));
      } else if (e.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
        this.stats.oversized++;
        this.log.warn('oversized frame from controller: connection closed');
      } else this.log.debug({ err: e.message }, 'uplink error');
    });
    ws.on('close', (code, reason) => this.onClose(ws, code, reason.toString()));
  }

  private onOpen(ws: WebSocket): void {
    if (ws !== this.ws) return;
    this.isOpen = true;
    this.stats.connects++;
    this.cursor = 0;
    this.batchInFlight = false;
    this.droppedOnThisLink = 0;
    const hello: HelloFrame = {
      type: 'hello', v: PROTOCOL_VERSION, agent: this.opts.agentId, version: this.opts.version, boot: this.opts.bootId,
    };
    ws.send(JSON.stringify(hello));
    for (const a of this.pendingAcks.splice(0)) ws.send(JSON.stringify(a));
    this.stableTimer = this.clock.setTimeout(() => { this.attempt = 0; }, STABLE_MS);
    this.awaitingPong = false;
    this.pingTimer = this.clock.setInterval(() => {
      if (this.awaitingPong) {
        this.log.warn('no pong from controller: dropping the link');
        ws.terminate();
        return;
      }
      this.awaitingPong = true;
      this.stats.pings++;
      ws.ping();
    }, this.opts.pingMs ?? 15_000);
    this.log.info({ url: this.opts.url, backlog: this.journal.stats().frames }, 'uplink connected');
    this.emit('connected');
    this.pump();
  }

  private onClose(ws: WebSocket, code: number, reason: string): void {
    if (ws !== this.ws) return;
    const wasOpen = this.isOpen;
    this.isOpen = false;
    this.ws = undefined;
    this.batchInFlight = false;
    this.clearLinkTimers();
    if (wasOpen) {
      this.stats.disconnects++;
      this.log.warn({ code, reason }, 'uplink disconnected');
      this.emit('disconnected', { code, reason });
    }
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    const min = this.opts.backoff?.minMs ?? 500;
    const max = this.opts.backoff?.maxMs ?? 30_000;
    const ceiling = Math.min(max, min * 2 ** Math.min(this.attempt, 30));
    // "equal jitter": half fixed, half random, so a fleet that lost the controller together
    // does not come back in lock-step, yet no agent retries sooner than half the step
    const delay = ceiling / 2 + (this.opts.random ?? Math.random)() * (ceiling / 2);
    this.attempt++;
    this.retryTimer = this.clock.setTimeout(() => this.connect(), delay);
  }

  private clearLinkTimers(): void {
    this.stableTimer?.cancel();
    this.pingTimer?.cancel();
    this.stableTimer = this.pingTimer = undefined;
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    const parsed = isBinary ? { ok: false as const, error: 'binary frames are not part of protocol v1' } : parseCommand(data.toString('utf8'));
    if (parsed.ok && parsed.cmd.type === 'received') {
      this.onReceived(parsed.cmd.seq);
      return;
    }
    const isCurtail = parsed.ok && parsed.cmd.type === 'command' && parsed.cmd.action === 'curtail';
    if (!isCurtail && !this.takeToken()) {
      this.stats.floodDropped++;
      if (++this.droppedOnThisLink >= (this.opts.cutAfter ?? 200)) {
        this.stats.floodCuts++;
        this.log.warn({ dropped: this.droppedOnThisLink }, 'command flood from controller: cutting the link');
        this.ws?.close(1008, 'flood');
        this.droppedOnThisLink = 0;
      }
      return;
    }
    if (!parsed.ok) {
      this.stats.rejected++;
      this.log.warn({ id: parsed.id, error: parsed.error }, 'invalid frame from controller');
      this.emit('rejected', { id: parsed.id, error: parsed.error });
      this.ack(parsed.id ?? '', false, parsed.error);
      return;
    }
    const cmd = parsed.cmd as Command;
    this.stats.commands++;
    if (this.listenerCount('command') === 0) {
      this.ack(cmd.id, false, 'agent has no command handler');
      return;
    }
    try {
      this.emit('command', cmd);
    } catch (e) {
      // a throwing handler must not take the socket (or the process) down with it
      this.log.error({ err: e, id: cmd.id }, 'command handler threw');
      this.ack(cmd.id, false, `agent error: ${(e as Error).message}`);
    }
  }

  /** coalesce `received` deletes: a fast controller may confirm every frame of a resend */
  private onReceived(seq: number): void {
    // a controller that confirms more than we ever wrote must not mask later confirmations
    seq = Math.min(seq, this.journal.lastSeq);
    if (seq <= this.receivedUpTo) return;
    this.receivedUpTo = seq;
    if (this.ackScheduled) return;
    this.ackScheduled = true;
    setImmediate(() => {
      this.ackScheduled = false;
      try {
        this.journal.ack(this.receivedUpTo);
      } catch (e) {
        this.stats.journalErrors++;
        this.log.error({ err: e }, 'journal delete failed');
      }
    });
  }

  private takeToken(): boolean {
    const now = this.clock.monotonic();
    const rate = this.opts.commandRate ?? 20;
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.tokensAt) / 1000) * rate);
    this.tokensAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
