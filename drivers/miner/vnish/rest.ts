import http from 'node:http';
import { ErrorCode, HashflexError } from '../../../agent/errors';
import type { LinkCounters } from '../../../agent/hardware';

/**
 * VNish's REST API (`/api/v1` on the web port) over node's http with a keep-alive agent whose
 * idle connections close after IDLE_MS: the requests of one poll (summary, then settings or the
 * presets) share a connection, and between polls none is held. A thousand miners kept a thousand
 * sockets open (their objects, timers and descriptors) to save the trip path one TCP connect on
 * the LAN, which the stock drivers pay on every request anyway; the stop still never waits for a
 * token. A pooled connection the firmware closed while idle can fail the next request before any
 * byte of reply (Node's docs: `req.reusedSocket` and ECONNRESET); such a request is sent once
 * more on a fresh connection. No other request is ever repeated here.
 *
 * The token: `POST /api/v1/unlock {"pw"}` answers `{"token"}`; protected endpoints take
 * `Authorization: Bearer <token>` and answer 401 once it has lapsed (VNish API reference). The
 * token is held with the time it was given; `refreshDue()` says when to fetch the next one ahead
 * of time: at `refreshMs` of age, or earlier once a 401 has shown how long the firmware keeps
 * them (REFRESH_SHARE of the shortest age seen refused). A request that meets a 401 anyway takes a
 * new token (one unlock shared by every caller) and is sent once more.
 */
const MAX_BODY = 256 * 1024;
/** an idle kept-alive connection closes after this (ms): long enough for one poll's requests, far short of the poll period */
const IDLE_MS = 1_000;
/** refresh a token once it is this share of the shortest lifetime seen */
const REFRESH_SHARE = 0.6;
/** a token refused younger than this was revoked (a restart), not aged out: it teaches no lifetime */
const MIN_TOKEN_LIFE_MS = 10_000;

export interface RestTarget {
  host: string;
  port: number;
  timeoutMs: number;
  password: string;
}

export interface RestReply {
  status: number;
  body: string;
}

/** the password was refused at unlock, or a token refused right after it was given */
export class VnishAuthRefused extends HashflexError {
  constructor(message: string) {
    super(message, ErrorCode.DeviceFault);
  }
}

/** an HTTP status the endpoint should not answer (404 on a host that is not VNish, 5xx) */
export class VnishHttpError extends HashflexError {
  constructor(message: string, readonly status: number) {
    super(message, ErrorCode.DeviceFault);
  }
}

export class VnishRest {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 4, maxFreeSockets: 1, timeout: IDLE_MS });
  private token?: { value: string; at: number };
  private unlocking?: Promise<void>;
  private lifeMs?: number;

  constructor(private readonly t: RestTarget, private readonly counters: LinkCounters, private readonly now: () => number, private readonly refreshMs: number) {}

  get where(): string {
    return `${this.t.host}:${this.t.port}`;
  }

  /** a token is in hand: a protected request needs no unlock first */
  get hasToken(): boolean {
    return this.token !== undefined;
  }

  /** an unlock is on its way (tests: a stop must not wait for it) */
  get unlockInFlight(): boolean {
    return this.unlocking !== undefined;
  }

  /** the shortest token lifetime the firmware has shown (ms), once a 401 has shown one */
  get learnedLifeMs(): number | undefined {
    return this.lifeMs;
  }

  refreshDue(): boolean {
    if (!this.token) return true;
    const due = Math.min(this.refreshMs, this.lifeMs === undefined ? Infinity : this.lifeMs * REFRESH_SHARE);
    return this.now() - this.token.at >= due;
  }

  /** fetch a new token; concurrent callers share one unlock */
  unlock(): Promise<void> {
    this.unlocking ??= this.doUnlock().finally(() => { this.unlocking = undefined; });
    return this.unlocking;
  }

  /** GET a JSON document; `auth` for the endpoints that want the token */
  async read(path: string, auth: boolean): Promise<unknown> {
    const r = auth ? await this.authed('GET', path) : await this.checked('GET', path);
    if (r.body.trim() === '') throw new HashflexError(`${this.where}: GET ${path}: empty reply`, ErrorCode.FrameInvalid);
    try {
      return JSON.parse(r.body) as unknown;
    } catch {
      throw new HashflexError(`${this.where}: GET ${path}: not JSON: ${JSON.stringify(r.body.slice(0, 60))}`, ErrorCode.FrameInvalid);
    }
  }

  /** POST with the token; resolves with the reply body of a 200 (what it means is the caller's) */
  async post(path: string, body?: unknown): Promise<string> {
    return (await this.authed('POST', path, body === undefined ? '' : JSON.stringify(body))).body;
  }

  close(): void {
    this.agent.destroy();
  }

  private async doUnlock(): Promise<void> {
    const r = await this.send('POST', '/unlock', JSON.stringify({ pw: this.t.password }));
    if (r.status === 401 || r.status === 403) throw this.fail(new VnishAuthRefused(`${this.where}: unlock: password refused (HTTP ${r.status})`));
    if (r.status !== 200) throw this.fail(new VnishHttpError(`${this.where}: unlock: HTTP ${r.status}`, r.status));
    let token: unknown;
    try {
      token = (JSON.parse(r.body) as { token?: unknown }).token;
    } catch { /* below */ }
    if (typeof token !== 'string' || token === '') throw this.fail(new HashflexError(`${this.where}: unlock: no token in ${JSON.stringify(r.body.slice(0, 60))}`, ErrorCode.FrameInvalid));
    this.token = { value: token, at: this.now() };
  }

  private async authed(method: string, path: string, body?: string): Promise<RestReply> {
    if (!this.token) await this.unlock();
    const used = this.token!;
    const r = await this.send(method, path, body, used.value);
    if (r.status !== 401) return this.ok(method, path, r);
    const age = this.now() - used.at;
    if (age >= MIN_TOKEN_LIFE_MS) this.lifeMs = Math.min(this.lifeMs ?? Infinity, age);
    if (this.token === used) {
      this.token = undefined;
      await this.unlock();
    } else if (this.unlocking) {
      await this.unlocking;
    }
    const again = await this.send(method, path, body, this.token!.value);
    if (again.status === 401) throw this.fail(new VnishAuthRefused(`${this.where}: ${method} ${path}: a token given just now is refused`));
    return this.ok(method, path, again);
  }

  private async checked(method: string, path: string): Promise<RestReply> {
    return this.ok(method, path, await this.send(method, path));
  }

  private ok(method: string, path: string, r: RestReply): RestReply {
    if (r.status === 200 || r.status === 204) return r;
    let why = '';
    try {
      const err = (JSON.parse(r.body) as { err?: unknown }).err;
      if (err !== undefined) why = `: ${String(err)}`;
    } catch { /* no reason given */ }
    throw this.fail(new VnishHttpError(`${this.where}: ${method} ${path}: HTTP ${r.status}${why}`, r.status));
  }

  private fail<E extends HashflexError>(e: E): E {
    this.counters.exceptions++;
    return e;
  }

  private async send(method: string, path: string, body?: string, token?: string): Promise<RestReply> {
    try {
      return await this.exchange(method, path, body, token, true);
    } catch (e) {
      if (e instanceof HashflexError && e.timeout) this.counters.timeouts++;
      else this.counters.exceptions++;
      throw e;
    }
  }

  private exchange(method: string, path: string, body: string | undefined, token: string | undefined, mayRetry: boolean): Promise<RestReply> {
    this.counters.requests++;
    return new Promise<RestReply>((resolve, reject) => {
      let done = false;
      let answered = false;
      const where = `${this.where} ${method} ${path}`;
      const headers: http.OutgoingHttpHeaders = { accept: 'application/json' };
      if (token !== undefined) headers.authorization = `Bearer ${token}`;
      if (body !== undefined) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = Buffer.byteLength(body);
      }
      const finish = (err: Error | undefined, reply?: RestReply) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (err) {
          req.destroy();
          return reject(err);
        }
        this.counters.frames++;
        resolve(reply!);
      };
      const req = http.request({ host: this.t.host, port: this.t.port, method, path: `/api/v1${path}`, headers, agent: this.agent }, (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_BODY) return finish(new HashflexError(`${where}: reply over ${MAX_BODY} bytes`, ErrorCode.FrameInvalid));
          chunks.push(c);
        });
        res.on('end', () => finish(undefined, { status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (e) => finish(new HashflexError(`${where}: reply cut short (${e.message})`, ErrorCode.TransportClosed, { disconnected: true })));
        res.on('aborted', () => finish(new HashflexError(`${where}: reply cut short`, ErrorCode.TransportClosed, { disconnected: true })));
      });
      const timer = setTimeout(() => finish(new HashflexError(`${where}: no complete reply in ${this.t.timeoutMs} ms`, ErrorCode.TransportTimeout, { timeout: true })), this.t.timeoutMs);
      req.on('error', (e: NodeJS.ErrnoException) => {
        if (done) return;
        // a kept-alive connection the firmware had closed: nothing reached it, send on a fresh one
        if (mayRetry && req.reusedSocket && !answered && (e.code === 'ECONNRESET' || e.code === 'EPIPE')) {
          done = true;
          clearTimeout(timer);
          this.counters.resyncs++;
          this.exchange(method, path, body, token, false).then(resolve, reject);
          return;
        }
        finish(e.code?.startsWith('HPE_')
          ? new HashflexError(`${where}: not an HTTP reply (${e.code})`, ErrorCode.FrameInvalid)
          : answered
            ? new HashflexError(`${where}: reply cut short (${e.code ?? e.message})`, ErrorCode.TransportClosed, { disconnected: true })
            : new HashflexError(`${where}: ${e.code ?? e.message}`, ErrorCode.TransportOpenFailed, { disconnected: true }));
      });
      req.end(body);
    });
  }
}
