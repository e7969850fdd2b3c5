import type { Clock } from '../../clock';
import { ErrorCode, HashflexError } from '../../errors';
import type { Logger } from '../../log';
import { authErrorSchema, authServerInfoSchema, clientCredentialResponseSchema } from './spec';
import { safeUrl, type Send } from './transport';

/**
 * OAuth2 client credentials for the VTN (Definitions, "OAuth 2.0 client credential flow" and
 * "Token endpoint discovery"; RFC 6749 §4.4). The token endpoint is openadr.token_url, else what
 * the VTN's GET /auth/server names, else (a 3.0.1 VTN without /auth/server) its /auth/token.
 * A token is fetched before the first request and again before it expires, never lazily after a
 * refusal alone; a 401 drops it so the next request fetches a new one (client.ts retries once).
 * Neither the secret nor a token is ever logged or put into an error message.
 */

/** a token is refreshed this long before it expires, at most (or a tenth of its life if shorter) */
export const REFRESH_MARGIN_MS = 60_000;
/** the lifetime assumed when the reply gives no expires_in (openleadr-rs assumes the same hour) */
export const DEFAULT_TOKEN_LIFE_S = 3600;

export interface TokenSourceOptions {
  vtnUrl: string;
  tokenUrl?: string;
  clientId?: string;
  clientSecret?: string;
  send: Send;
  clock: Clock;
  log: Logger;
}

export class TokenSource {
  private token?: { value: string; refreshAt: number; expiresAt: number };
  private endpoint?: string;
  private pending?: Promise<string>;
  /** tokens fetched so far (status, tests) */
  fetched = 0;

  constructor(private readonly o: TokenSourceOptions) {
    this.endpoint = o.tokenUrl;
  }

  /** whether requests carry a token at all (a VTN with public data asks none: Definitions, "Non-Authenticating VTNs") */
  get enabled(): boolean {
    return this.o.clientId !== undefined && this.o.clientSecret !== undefined;
  }

  /** wall ms the token in hand expires (status) */
  get expiresAt(): number | undefined {
    return this.token?.expiresAt;
  }

  /** the bearer token to send now, fetched or refreshed as needed; undefined when not enabled */
  async bearer(): Promise<string | undefined> {
    if (!this.enabled) return undefined;
    const now = this.o.clock.now();
    if (this.token && now < this.token.refreshAt) return this.token.value;
    // one fetch at a time: the poll, a report and a notification's re-poll share it
    this.pending ??= this.fetch().finally(() => { this.pending = undefined; });
    return this.pending;
  }

  /** the token in hand if it has not expired, without fetching (an MQTT reconnect's password) */
  peek(): string | undefined {
    return this.token && this.o.clock.now() < this.token.expiresAt ? this.token.value : undefined;
  }

  /** the VTN refused the token (401): forget it, so the next request fetches another */
  invalidate(): void {
    this.token = undefined;
  }

  private async fetch(): Promise<string> {
    const url = this.endpoint ?? (this.endpoint = await this.discover());
    const body = new URLSearchParams({ grant_type: 'client_credentials', client_id: this.o.clientId!, client_secret: this.o.clientSecret! }).toString();
    const started = this.o.clock.now();
    const res = await this.o.send({ method: 'POST', url, headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body });
    const json = parseJson(res.text);
    if (res.status < 200 || res.status > 299) {
      const err = authErrorSchema.safeParse(json);
      const why = err.success ? err.data.error.slice(0, 64) : `HTTP ${res.status}`;
      // a token endpoint that moved (404) is looked up again next time
      if (res.status === 404 && !this.o.tokenUrl) this.endpoint = undefined;
      throw new HashflexError(`token endpoint ${safeUrl(url)} refused client ${this.o.clientId}: ${why}`, ErrorCode.VtnAuth);
    }
    const parsed = clientCredentialResponseSchema.safeParse(json);
    if (!parsed.success) throw new HashflexError(`token endpoint ${safeUrl(url)} answered no valid token (${parsed.error.issues[0]?.path.join('.') || 'body'}: ${parsed.error.issues[0]?.message})`, ErrorCode.VtnAuth);
    const lifeMs = (parsed.data.expires_in ?? DEFAULT_TOKEN_LIFE_S) * 1000;
    const margin = Math.min(REFRESH_MARGIN_MS, lifeMs / 10);
    this.token = { value: parsed.data.access_token, refreshAt: started + lifeMs - margin, expiresAt: started + lifeMs };
    this.fetched++;
    this.o.log.info({ client_id: this.o.clientId, token_url: safeUrl(url), expires_in_s: Math.round(lifeMs / 1000) }, 'openadr token obtained');
    return this.token.value;
  }

  /** GET /auth/server (3.1.0); a VTN without it (3.0.1) serves /auth/token itself */
  private async discover(): Promise<string> {
    const base = this.o.vtnUrl.replace(/\/+$/, '');
    const res = await this.o.send({ method: 'GET', url: `${base}/auth/server`, headers: { accept: 'application/json' } });
    if (res.status === 404 || res.status === 501) return `${base}/auth/token`;
    if (res.status < 200 || res.status > 299) throw new HashflexError(`${safeUrl(`${base}/auth/server`)}: HTTP ${res.status}`, ErrorCode.VtnRefused);
    const info = authServerInfoSchema.safeParse(parseJson(res.text));
    if (!info.success) throw new HashflexError(`${safeUrl(`${base}/auth/server`)} names no token endpoint (expected { tokenURL })`, ErrorCode.VtnProtocol);
    const u = new URL(info.data.tokenURL);
    // the secret goes where this url says: only over TLS, or to this board
    if (u.protocol !== 'https:' && !(u.protocol === 'http:' && /^(127\.|localhost$|\[::1\]$)/.test(u.hostname))) {
      throw new HashflexError(`${safeUrl(`${base}/auth/server`)} names a token endpoint that is not https://`, ErrorCode.VtnProtocol);
    }
    return info.data.tokenURL;
  }
}

/** a JSON body, or undefined when it is not JSON */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
