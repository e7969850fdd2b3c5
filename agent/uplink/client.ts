import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import { type Clock, type Timer, realClock } from '../clock';
import { ErrorCode, HashflexError } from '../errors';
import { logger } from '../log';
import type { Journal } from './journal';
import { type MqttOptions, isMqttUrl, mqttTransport } from './mqtt-transport';
import {
  type AckFrame, type Command, type EventBody, type HelloFrame, type TelemetryBody,
  PROTOCOL_VERSION, ackFrame, parseCommand,
} from './protocol';
import type { Link, LinkHandler, Scope, Transport } from './transport';
import { wsTransport } from './ws-transport';

/**
 * The agent's link to the site controller (protocol v1, DESIGN.md §4). This class is the
 * protocol, once; the pipe under it is a Transport picked by the url's scheme: WebSocket
 * (ws://, wss://, ws-transport.ts) or MQTT 5 on a broker (mqtt://, mqtts://, mqtt+ws://,
 * mqtt+wss://, mqtt-transport.ts).
 *
 * Reports go journal-first: telemetry()/event() store the frame and it is sent once the journal
 * says it is on disk (at once in 'full' mode, after the background fsync in 'async' mode). On every (re)connect the uplink says hello and
 * resends everything the journal still holds, in seq order, in batches paced by the transport's
 * send callbacks so a 10,000-frame backlog never sits in memory at once. Live frames queue
 * behind the backlog, so the controller sees seq strictly in order. Frames leave the journal
 * only on the controller's `received`, on both transports (an MQTT broker's PUBACK only says the
 * broker has the frame, not that the controller stored it).
 *
 * Commands: valid ones are emitted as 'command' (the agent acts, then calls ack()); anything
 * malformed, unknown or out of range is answered here with ack ok:false and never emitted.
 * Oversized frames close the connection (WebSocket 1009; MQTT: the broker is told our
 * maximumPacketSize and drops them); a flood of commands is dropped beyond a token bucket and,
 * if it goes on, the connection is cut (1008) and retried with backoff. `curtail` is never
 * dropped: it is the safe direction, and losing a trip behind a flood would be worse than
 * honouring a repeated one.
 *
 * A frame the journal cannot store (full SD card) is still sent, from memory, marked
 * `"journaled": false` (journal.ts); the uplink then reports an event `fault` with source
 * `journal` to the controller itself, and `recover` once writes work again, and emits the same
 * as 'journal' ({ kind: 'fault', source: 'journal', detail } | { kind: 'recover', source:
 * 'journal', ... }) for local consumers.
 *
 * Events: 'connected' (), 'disconnected' ({ code, reason }), 'command' (Command),
 * 'auth_failed' (status), 'rejected' ({ id, error }), 'journal' (above), and 'telemetry' /
 * 'event' (the frame object, after it was journaled) for local consumers such as the status
 * server.
 */

export interface UplinkOptions {
  /** ws://, wss://, mqtt://, mqtts://, mqtt+ws://, mqtt+wss:// */
  url: string;
  /** WebSocket: bearer token. MQTT: the broker password unless mqtt.password is given */
  token?: string;
  /** PEM file of the CA that signed the controller's (or broker's) certificate */
  caFile?: string;
  agentId: string;
  version: string;
  bootId: string;
  journal: Journal;
  /** required for MQTT urls: site, credentials, client id, topic prefix */
  mqtt?: MqttOptions;
  /** reconnect backoff: first delay and ceiling (ms). Defaults 500 and 30,000 */
  backoff?: { minMs?: number; maxMs?: number };
  /** largest frame accepted from the controller (bytes). Default 64 KiB; commands are < 200 B */
  maxPayload?: number;
  /** keepalive period (ms); WebSocket ping, MQTT keepalive (rounded up to seconds). Default 15,000 */
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

/** the transport for opts.url; throws ConfigInvalid for an unknown scheme or missing MQTT site */
export function transportFor(opts: UplinkOptions, ca: Buffer | undefined, clock: Clock): Transport {
  // the config refuses it too (security.ts); an empty token would connect with no credentials
  if (opts.token === '' || opts.mqtt?.password === '') throw new HashflexError('uplink.token: is empty', ErrorCode.ConfigInvalid);
  if (/^wss?:\/\//i.test(opts.url)) {
    return wsTransport({ url: opts.url, token: opts.token, ca, maxPayload: opts.maxPayload, pingMs: opts.pingMs }, clock);
  }
  if (isMqttUrl(opts.url)) {
    if (!opts.mqtt) throw new HashflexError('uplink.site is required for an MQTT uplink url', ErrorCode.ConfigInvalid);
    return mqttTransport({
      ...opts.mqtt, url: opts.url, ca, agentId: opts.agentId, bootId: opts.bootId, version: opts.version,
      password: opts.mqtt.password ?? opts.token, maxPayload: opts.maxPayload, pingMs: opts.pingMs,
    });
  }
  throw new HashflexError(`uplink.url: unsupported scheme in ${opts.url}`, ErrorCode.ConfigInvalid);
}

/** why an attempt failed or a link dropped: the transport's error, or the far side's refusal */
export interface LinkCause {
  message: string;
  /** the error's code: ECONNREFUSED, UNABLE_TO_VERIFY_LEAF_SIGNATURE, … */
  code?: string;
  /** credentials refused: HTTP 401/403, MQTT CONNACK 134/135 */
  status?: number;
}

/** a link that was up and is gone: the error that took it, else the close itself */
function dropCause(code: number, reason: string, err?: LinkCause): LinkCause {
  if (err && (reason === '' || reason === 'connection lost')) return err;
  if (reason) return { message: `${reason} (close code ${code})`, code: err?.code };
  return err ?? { message: code === 1006 ? 'connection lost (close code 1006)' : `closed by the far end (close code ${code})` };
}

/** certificate checks that a CA bundle (uplink.ca_file) decides */
const CA_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'CERT_UNTRUSTED', 'CERT_SIGNATURE_FAILURE',
  'CERT_CHAIN_TOO_LONG', 'INVALID_CA', 'CERT_REJECTED',
]);

/**
 * The log line for a cause, and the key that says whether the next failure is the same one (a
 * retry: not logged again) or another (logged). Causes name what to check where they can.
 */
export function describeCause(c: LinkCause, o: { caFile: boolean; mqtt: boolean }): { key: string; level: 'warn' | 'error'; text: string } {
  if (c.status !== undefined) {
    const who = o.mqtt ? `the broker refused our login (${c.status}) — check uplink.token and uplink.username` : `the controller answered ${c.status} to our token — check uplink.token`;
    return { key: `auth:${c.status}`, level: 'error', text: `uplink refused: ${who} (retrying with backoff)` };
  }
  const code = c.code ?? '';
  const tls = CA_CODES.has(code) || /^ERR_(SSL|TLS)_/.test(code) || /^CERT_/.test(code);
  if (!tls) return { key: `down:${code || c.message}`, level: 'warn', text: `uplink down: ${c.message} (retrying with backoff)` };
  let hint: string;
  if (CA_CODES.has(code)) hint = o.caFile ? 'check uplink.ca_file' : 'set uplink.ca_file to the CA that signed the controller\'s certificate (the system CAs do not trust it)';
  else if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') hint = 'check the certificate\'s dates and this board\'s clock';
  else if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') hint = 'the certificate is not for the host in uplink.url';
  else hint = `is the far end speaking TLS on this port? (${o.mqtt ? 'mqtt://' : 'ws://'} is the plain scheme)`;
  return { key: `tls:${code}`, level: 'warn', text: `uplink TLS failure: ${c.message} — ${hint}` };
}

export class Uplink extends EventEmitter {
  readonly stats: UplinkStats = {
    connects: 0, disconnects: 0, authFailures: 0, sent: 0, commands: 0, rejected: 0,
    floodDropped: 0, floodCuts: 0, oversized: 0, journalErrors: 0, pings: 0, pongs: 0,
  };
  private readonly log = logger('uplink');
  private readonly journal: Journal;
  private readonly transport: Transport;
  private link?: Link;
  private isOpen = false;
  private stopped = true;
  /** highest seq handed to the transport on this connection */
  private cursor = 0;
  private batchInFlight = false;
  private attempt = 0;
  private retryTimer?: Timer;
  private stableTimer?: Timer;
  private pendingAcks: AckFrame[] = [];
  private receivedUpTo = 0;
  private ackScheduled = false;
  private tokens: number;
  private tokensAt: number;
  private droppedOnThisLink = 0;
  /** a journal fault has been reported and not yet its recovery */
  private journalFaulted = false;
  /** events handed to queueEvent(), journaled and sent at the next setImmediate, in order */
  private queued: { body: EventBody; ts: string }[] = [];
  private flushing?: NodeJS.Immediate;
  /**
   * The link's state as last logged. Each change is logged once, with its cause (down: warn;
   * credentials refused: error; up again: info), not every retry: a controller that refuses
   * connections for an hour is one line, a cause that changes (refused, then a TLS failure) a
   * line each; the retries themselves are debug lines.
   */
  private linkState: 'idle' | 'up' | 'down' = 'idle';
  private downKey?: string;
  private downSince = 0;
  private failedAttempts = 0;

  /** `transport` overrides the one picked by the url's scheme (tests, other pipes) */
  constructor(private readonly opts: UplinkOptions, private readonly clock: Clock = realClock, transport?: Transport) {
    super();
    this.journal = opts.journal;
    // read once at construction: a missing CA file is a config error, found before any connect
    const ca = opts.caFile ? fs.readFileSync(opts.caFile) : undefined;
    this.transport = transport ?? transportFor(opts, ca, clock);
    this.tokens = this.burst;
    this.tokensAt = clock.monotonic();
  }

  /** the journal's background fsync finished: frames up to its seq may now go out */
  private readonly onDurable = (): void => this.pump();

  /**
   * The journal's first failed write (it is inside an append, perhaps this uplink's own): the
   * fault event goes out right after, as a frame of its own.
   */
  private readonly onJournalFault = (err: Error): void => {
    queueMicrotask(() => this.journalFault(err.message));
  };

  private readonly onJournalRecover = (): void => {
    queueMicrotask(() => this.journalRecover());
  };

  /**
   * Journal and send an event after the present synchronous work (at the next setImmediate),
   * for listeners on the control path (Site 'control' and 'trip'): the append — an fsync in
   * `full` mode, now and then an inline SQLite checkpoint — then never runs inside the code
   * that detected the condition, and waits behind the I/O callbacks already due. `ts` is taken
   * now; seq follows call order (a telemetry() or event() call first journals what is queued);
   * the frame is still journaled before it is sent. Queued events are written at stop().
   */
  queueEvent(body: EventBody): void {
    this.queued.push({ body, ts: new Date(this.clock.now()).toISOString() });
    this.flushing ??= setImmediate(() => this.flushQueued());
  }

  private flushQueued(): void {
    if (this.flushing) clearImmediate(this.flushing);
    this.flushing = undefined;
    for (const q of this.queued.splice(0)) this.report('event', q.body, q.ts);
  }

  private journalFault(message: string): void {
    if (this.journalFaulted || !this.journal.failing) return;
    this.journalFaulted = true;
    const e = { kind: 'fault' as const, source: 'journal', detail: `journal write failed (${message}): frames are sent from memory, not durable` };
    this.queueEvent(e);
    this.emitLocal('journal', e);
  }

  private journalRecover(): void {
    if (!this.journalFaulted || this.journal.failing) return;
    this.journalFaulted = false;
    const st = this.journal.stats();
    const e = { kind: 'recover' as const, source: 'journal', unjournaled: st.unjournaled, memory_dropped: st.memoryDropped };
    this.queueEvent(e);
    this.emitLocal('journal', e);
  }

  private emitLocal(name: string, value: unknown): void {
    try {
      this.emit(name, value);
    } catch (e) {
      this.log.error({ err: e }, `${name} listener threw`);
    }
  }

  get connected(): boolean {
    return this.isOpen;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.journal.on('durable', this.onDurable);
    this.journal.on('fault', this.onJournalFault);
    this.journal.on('recover', this.onJournalRecover);
    // writes that failed before the start are reported as well
    if (this.journal.failing) this.onJournalFault(new Error('failing since before the uplink started'));
    this.connect();
  }

  async stop(): Promise<void> {
    this.flushQueued();
    this.stopped = true;
    this.journal.off('durable', this.onDurable);
    this.journal.off('fault', this.onJournalFault);
    this.journal.off('recover', this.onJournalRecover);
    this.retryTimer?.cancel();
    this.stableTimer?.cancel();
    this.linkState = 'idle';
    const link = this.link;
    this.link = undefined;
    this.isOpen = false;
    this.batchInFlight = false;
    await link?.close();
  }

  /** journal a telemetry frame, then send it if connected; returns its seq (a frame the journal could not store is sent from memory) */
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
    if (this.isOpen && this.link) this.link.send('ack', JSON.stringify(frame));
    else {
      this.pendingAcks.push(frame);
      if (this.pendingAcks.length > MAX_PENDING_ACKS) this.pendingAcks.shift();
    }
  }

  private get burst(): number {
    return (this.opts.commandRate ?? 20) * 5;
  }

  private report(kind: 'telemetry' | 'event', body: object, at?: string): number {
    // what queueEvent() holds was called for first: it takes the lower seqs
    if (this.queued.length && at === undefined) this.flushQueued();
    const ts = at ?? new Date(this.clock.now()).toISOString();
    let row;
    let frame: object | undefined;
    try {
      row = this.journal.append(kind, (seq, journaled) => {
        // head fields first, and again last so a body can never override them
        frame = Object.assign({ type: kind, seq, ts }, body, { type: kind, seq, ts }, journaled ? {} : { journaled: false });
        return JSON.stringify(frame);
      });
      if (row.journaled === false) {
        this.stats.journalErrors++;
        this.stats.lastError = 'journal write failed: frame sent from memory';
      }
    } catch (e) {
      // not a failed write (the journal holds those in memory): a frame that cannot be rendered
      this.stats.journalErrors++;
      this.stats.lastError = (e as Error).message;
      this.log.error({ err: e }, 'frame not sent: it cannot be rendered');
      return -1;
    }
    if (this.isOpen && this.link && !this.batchInFlight && this.cursor === row.seq - 1 && row.seq <= this.journal.durableSeq) {
      this.link.send(kind, row.text);
      this.cursor = row.seq;
      this.stats.sent++;
    } else this.pump();
    // local consumers (the status server's live view) get the frame as journaled; their
    // failures are theirs, never the caller's
    this.emitLocal(kind, frame);
    return row.seq;
  }

  /** send the next batch from the journal; the last frame's send callback sends the next one */
  private pump(): void {
    const link = this.link;
    if (!this.isOpen || !link || this.batchInFlight) return;
    const rows = this.journal.after(this.cursor, BATCH);
    if (rows.length === 0) return;
    this.batchInFlight = true;
    const kindOf = (text: string): 'telemetry' | 'event' => (text.startsWith('{"type":"event"') ? 'event' : 'telemetry');
    for (let i = 0; i < rows.length - 1; i++) link.send(kindOf(rows[i].text), rows[i].text);
    const last = rows[rows.length - 1].text;
    // moved before the last send: a transport that calls back at once must pump from past this batch
    this.cursor = rows[rows.length - 1].seq;
    this.stats.sent += rows.length;
    link.send(kindOf(last), last, (err) => {
      if (link !== this.link) return;
      this.batchInFlight = false;
      if (!err) this.pump();
    });
  }

  private connect(): void {
    if (this.stopped) return;
    let link: Link | undefined;
    const mine = (): boolean => link !== undefined && link === this.link;
    // what went wrong on this attempt: the first error before it opened, the last one after
    let opened = false;
    let failure: LinkCause | undefined;
    const handler: LinkHandler = {
      open: () => { if (mine()) { opened = true; failure = undefined; this.onOpen(); } },
      message: (text, scope) => { if (mine()) this.onMessage(text, scope); },
      close: (code, reason) => { if (mine()) this.onClose(code, reason, opened ? dropCause(code, reason, failure) : failure ?? dropCause(code, reason)); },
      authFailed: (status) => {
        this.stats.authFailures++;
        this.stats.lastError = `refused with ${status}`;
        failure = { message: `refused with ${status}`, status };
        this.emit('auth_failed', status);
      },
      oversized: () => {
        this.stats.oversized++;
        this.log.warn('oversized frame from controller: connection closed');
      },
      ping: () => { this.stats.pings++; },
      pong: () => { this.stats.pongs++; },
      error: (message, code) => {
        this.stats.lastError = message;
        // the first error of an attempt that never opens is its cause, logged as the link's state
        if (!opened && !failure) failure = { message, code };
        else {
          if (opened) failure = { message, code };
          this.log.debug({ err: message, code }, 'uplink error');
        }
      },
    };
    try {
      link = this.transport(handler);
    } catch (e) {
      // a transport that cannot even start (bad url) is retried like a refused connection
      handler.error((e as Error).message);
      this.linkDown({ message: (e as Error).message });
      this.scheduleReconnect();
      return;
    }
    this.link = link;
  }

  private onOpen(): void {
    const link = this.link;
    if (!link) return;
    this.isOpen = true;
    this.stats.connects++;
    this.cursor = 0;
    this.batchInFlight = false;
    this.droppedOnThisLink = 0;
    const hello: HelloFrame = {
      type: 'hello', v: PROTOCOL_VERSION, agent: this.opts.agentId, version: this.opts.version, boot: this.opts.bootId,
    };
    link.send('hello', JSON.stringify(hello));
    for (const a of this.pendingAcks.splice(0)) link.send('ack', JSON.stringify(a));
    this.stableTimer = this.clock.setTimeout(() => { this.attempt = 0; }, STABLE_MS);
    const wasDown = this.linkState === 'down';
    this.log.info({
      url: this.opts.url, backlog: this.journal.stats().frames,
      ...(wasDown ? { down_ms: Math.round(this.clock.monotonic() - this.downSince), failed_attempts: this.failedAttempts } : {}),
    }, 'uplink up');
    this.linkState = 'up';
    this.downKey = undefined;
    this.failedAttempts = 0;
    this.emit('connected');
    this.pump();
  }

  private onClose(code: number, reason: string, cause: LinkCause): void {
    const wasOpen = this.isOpen;
    this.isOpen = false;
    this.link = undefined;
    this.batchInFlight = false;
    this.stableTimer?.cancel();
    this.stableTimer = undefined;
    if (wasOpen) this.stats.disconnects++;
    if (!this.stopped) this.linkDown(cause, { code, reason });
    if (wasOpen) this.emit('disconnected', { code, reason });
    this.scheduleReconnect();
  }

  /** one failed attempt or a lost link: logged when the state or its cause changes, else debug */
  private linkDown(cause: LinkCause, close?: { code: number; reason: string }): void {
    this.failedAttempts++;
    const d = describeCause(cause, { caFile: this.opts.caFile !== undefined, mqtt: isMqttUrl(this.opts.url) });
    const fields = { url: this.opts.url, cause: cause.message, ...(cause.code ? { code: cause.code } : {}), ...(close ? { close_code: close.code } : {}) };
    if (this.linkState === 'down' && this.downKey === d.key) {
      this.log.debug({ ...fields, failed_attempts: this.failedAttempts }, 'uplink still down');
      return;
    }
    if (this.linkState !== 'down') this.downSince = this.clock.monotonic();
    this.linkState = 'down';
    this.downKey = d.key;
    this.log[d.level](fields, d.text);
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

  private onMessage(text: string | undefined, scope: Scope): void {
    let parsed = text === undefined ? { ok: false as const, error: 'binary frames are not part of protocol v1' } : parseCommand(text);
    if (parsed.ok && parsed.cmd.type === 'received') {
      // seq is per agent: a `received` on a topic every agent of the site reads is a mistake
      if (scope === 'agent') {
        this.onReceived(parsed.cmd.seq);
        return;
      }
      parsed = { ok: false, error: 'received is not accepted on the site-wide topic' };
    }
    const isCurtail = parsed.ok && parsed.cmd.type === 'command' && parsed.cmd.action === 'curtail';
    if (!isCurtail && !this.takeToken()) {
      this.stats.floodDropped++;
      if (++this.droppedOnThisLink >= (this.opts.cutAfter ?? 200)) {
        this.stats.floodCuts++;
        this.log.warn({ dropped: this.droppedOnThisLink }, 'command flood from controller: cutting the link');
        this.link?.cut(1008, 'flood');
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
      // a throwing handler must not take the connection (or the process) down with it
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
