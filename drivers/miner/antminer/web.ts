import http from 'node:http';
import { ErrorCode, HashflexError } from '../../../agent/errors';
import type { LinkCounters } from '../../../agent/hardware';
import { authorization, digestHa1, newCnonce, parseChallenge, supportedAlgorithm, type DigestChallenge } from './digest';

/**
 * The stock web CGI over HTTP with Digest auth. It keeps the challenge of the last exchange
 * (nonce, realm, qop, the next nc), so a request signs itself with no extra round trip: the
 * trip path's set_miner_conf is one POST. Where the server no longer takes the held nonce
 * (expired: 401, stale=true or a new nonce) the request is sent once more with the new
 * challenge; a second 401 is refused credentials. One connection per request (no keep-alive):
 * a pooled socket the firmware closed while idle would fail the trip path's one request.
 */
const MAX_BODY = 256 * 1024;

export interface WebTarget {
  host: string;
  port: number;
  timeoutMs: number;
  username: string;
  password: string;
}

export interface WebReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

interface Held {
  challenge: DigestChallenge;
  ha1: string;
  /** the last nc sent under this nonce */
  nc: number;
  /** when the server gave it (monotonic ms) */
  at: number;
}

/** the credentials were refused: a 401 to a request signed under the challenge just given */
export class AuthRefused extends HashflexError {
  constructor(message: string) {
    super(message, ErrorCode.DeviceFault);
  }
}

/** refresh a nonce once it is this share of the lifetime the server showed */
const NONCE_REFRESH_SHARE = 0.6;
const MIN_NONCE_LIFE_MS = 10_000;

export class CgiClient {
  private held?: Held;
  /** the realm the server last named (stock: "antMiner Configuration") */
  realm?: string;

  /** the shortest age at which the server called a held nonce stale (ms), once seen */
  private nonceLifeMs?: number;

  constructor(private readonly t: WebTarget, private readonly counters: LinkCounters, private readonly now: () => number) {}

  /** a challenge is in hand: the next request needs no extra round trip */
  get ready(): boolean {
    return this.held !== undefined;
  }

  /** forget the held challenge (tests; a host that changed) */
  forget(): void {
    this.held = undefined;
  }

  /**
   * The held nonce is near the lifetime the server has shown: the next GET fetches a new one
   * (an unsigned request and its 401), so the trip path's POST still signs with a live nonce.
   */
  nonceDue(): boolean {
    return this.held !== undefined && this.nonceLifeMs !== undefined && this.now() - this.held.at >= this.nonceLifeMs * NONCE_REFRESH_SHARE;
  }

  /** GET a CGI (`name` without the .cgi), resolving with a 200's body; renews a nonce that is due */
  get(name: string): Promise<string> {
    if (this.nonceDue()) this.held = undefined;
    return this.call('GET', `/cgi-bin/${name}.cgi`);
  }

  /** POST a body to a CGI, resolving with a 200's body; never spends a round trip on a nonce it holds */
  post(name: string, body: string): Promise<string> {
    return this.call('POST', `/cgi-bin/${name}.cgi`, body);
  }

  private async call(method: string, uri: string, body?: string): Promise<string> {
    const used = this.held;
    let reply = await this.send(method, uri, body);
    for (let attempt = 0; reply.status === 401; attempt++) {
      const c = parseChallenge(header(reply.headers['www-authenticate']));
      if (!c) throw this.fail(new HashflexError(`${where(this.t)}: ${method} ${uri}: 401 without a Digest challenge`, ErrorCode.DeviceFault));
      if (!supportedAlgorithm(c.algorithm)) throw this.fail(new HashflexError(`${where(this.t)}: ${method} ${uri}: Digest algorithm ${c.algorithm} not supported`, ErrorCode.DeviceFault));
      // signed under the challenge the server had just given: the password (or user) is wrong
      if (attempt > 0) {
        this.held = undefined;
        throw this.fail(new AuthRefused(`${where(this.t)}: ${method} ${uri}: credentials refused for user ${this.t.username}`));
      }
      if (used && c.stale && this.held === used) {
        // a nonce dropped young is the server restarting (a reboot), not its nonce lifetime
        const age = this.now() - used.at;
        if (age >= MIN_NONCE_LIFE_MS) this.nonceLifeMs = Math.min(this.nonceLifeMs ?? Infinity, age);
      }
      this.realm = c.realm;
      this.held = { challenge: c, ha1: digestHa1(c.algorithm, this.t.username, c.realm, this.t.password), nc: 0, at: this.now() };
      reply = await this.send(method, uri, body);
    }
    if (reply.status !== 200) throw this.fail(new HashflexError(`${where(this.t)}: ${method} ${uri}: HTTP ${reply.status}`, ErrorCode.DeviceFault));
    this.counters.frames++;
    return reply.body;
  }

  private fail(e: HashflexError): HashflexError {
    this.counters.exceptions++;
    return e;
  }

  private send(method: string, uri: string, body?: string): Promise<WebReply> {
    const headers: http.OutgoingHttpHeaders = { Host: this.t.port === 80 ? this.t.host : `${this.t.host}:${this.t.port}`, Connection: 'close' };
    if (this.held) {
      const held = this.held;
      held.nc++;
      headers.Authorization = authorization(held.challenge, { method, uri, username: this.t.username, ha1: held.ha1, nc: held.nc, cnonce: newCnonce() });
    }
    if (body !== undefined) {
      // what the stock web page's save sends: a JSON text under a plain-text type
      headers['Content-Type'] = 'text/plain;charset=UTF-8';
      headers['Content-Length'] = Buffer.byteLength(body);
    }
    this.counters.requests++;
    return httpExchange({ host: this.t.host, port: this.t.port, method, path: uri, headers, timeoutMs: this.t.timeoutMs }, body);
  }
}

const where = (t: WebTarget) => `${t.host}:${t.port}`;

function header(v: string | string[] | undefined): string | undefined {
  if (Array.isArray(v)) return v.find((x) => /^\s*digest/i.test(x)) ?? v[0];
  return v;
}

export interface Exchange {
  host: string;
  port: number;
  method: string;
  path: string;
  headers: http.OutgoingHttpHeaders;
  timeoutMs: number;
}

/**
 * One HTTP exchange on its own connection, bounded in size and time: resolves with the status,
 * headers and body (latin1 as sent), rejects with a HashflexError (timeout / disconnected).
 */
export function httpExchange(x: Exchange, body?: string): Promise<WebReply> {
  return new Promise((resolve, reject) => {
    let done = false;
    const where = `${x.host}:${x.port}`;
    const finish = (err: Error | undefined, reply?: WebReply) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.destroy();
      if (err) reject(err);
      else resolve(reply!);
    };
    const req = http.request({ host: x.host, port: x.port, method: x.method, path: x.path, headers: x.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY) return finish(new HashflexError(`${where}: HTTP reply over ${MAX_BODY} bytes`, ErrorCode.FrameInvalid));
        chunks.push(c);
      });
      res.on('end', () => finish(undefined, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (e) => finish(new HashflexError(`${where}: HTTP reply cut short (${e.message})`, ErrorCode.TransportClosed, { disconnected: true })));
      res.on('aborted', () => finish(new HashflexError(`${where}: HTTP reply cut short`, ErrorCode.TransportClosed, { disconnected: true })));
    });
    const timer = setTimeout(() => finish(new HashflexError(`${where}: no complete HTTP reply in ${x.timeoutMs} ms`, ErrorCode.TransportTimeout, { timeout: true })), x.timeoutMs);
    req.on('error', (e: NodeJS.ErrnoException) => {
      const parse = e.code?.startsWith('HPE_');
      finish(parse
        ? new HashflexError(`${where}: not an HTTP reply (${e.code})`, ErrorCode.FrameInvalid)
        : new HashflexError(`${where}: ${e.code ?? e.message}`, ErrorCode.TransportOpenFailed, { disconnected: true }));
    });
    req.end(body);
  });
}
