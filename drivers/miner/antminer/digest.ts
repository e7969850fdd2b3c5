import crypto from 'node:crypto';

/**
 * HTTP Digest access authentication, client side (RFC 7616, which keeps RFC 2617's MD5 and adds
 * SHA-256): pure functions, so the trip path can sign a request with a challenge it already
 * holds and the golden vectors of both RFCs can be checked byte for byte (test/miner-antminer-digest).
 * Stock Antminer firmware (lighttpd mod_auth) challenges with
 * `Digest realm="antMiner Configuration", nonce="…", qop="auth"` and MD5.
 */
export interface DigestChallenge {
  realm: string;
  nonce: string;
  /** the qop options the server offers (`auth`, `auth-int`); empty for RFC 2069 servers */
  qop: string[];
  opaque?: string;
  /** MD5 (the default), MD5-sess, SHA-256, SHA-256-sess */
  algorithm: string;
  /** the server says the nonce expired but the credentials were right (retry with the new one) */
  stale: boolean;
}

/**
 * Parse a WWW-Authenticate value. Returns undefined unless it is a Digest challenge with a realm
 * and a nonce. Parameters are tokens or quoted strings (with backslash escapes), comma-separated.
 */
export function parseChallenge(header: string | undefined): DigestChallenge | undefined {
  if (!header) return undefined;
  const m = /^\s*Digest\s+/i.exec(header);
  if (!m) return undefined;
  const params = parseParams(header.slice(m[0].length));
  const realm = params.get('realm');
  const nonce = params.get('nonce');
  if (realm === undefined || nonce === undefined) return undefined;
  return {
    realm,
    nonce,
    qop: (params.get('qop') ?? '').split(',').map((q) => q.trim().toLowerCase()).filter(Boolean),
    opaque: params.get('opaque'),
    algorithm: params.get('algorithm') ?? 'MD5',
    stale: (params.get('stale') ?? '').toLowerCase() === 'true',
  };
}

function parseParams(s: string): Map<string, string> {
  const out = new Map<string, string>();
  let i = 0;
  while (i < s.length) {
    while (i < s.length && /[\s,]/.test(s[i])) i++;
    const k = /^[A-Za-z0-9_-]+/.exec(s.slice(i));
    if (!k) break;
    i += k[0].length;
    while (i < s.length && s[i] === ' ') i++;
    if (s[i] !== '=') continue;
    i++;
    while (i < s.length && s[i] === ' ') i++;
    let v = '';
    if (s[i] === '"') {
      i++;
      while (i < s.length && s[i] !== '"') {
        if (s[i] === '\\' && i + 1 < s.length) i++;
        v += s[i++];
      }
      i++;
    } else {
      const t = /^[^,\s]*/.exec(s.slice(i))![0];
      v = t;
      i += t.length;
    }
    out.set(k[0].toLowerCase(), v);
  }
  return out;
}

const HASHES: Record<string, string> = { md5: 'md5', 'md5-sess': 'md5', 'sha-256': 'sha256', 'sha-256-sess': 'sha256' };

export function supportedAlgorithm(algorithm: string): boolean {
  return HASHES[algorithm.toLowerCase()] !== undefined;
}

function h(alg: string, s: string): string {
  return crypto.createHash(HASHES[alg.toLowerCase()] ?? 'md5').update(s, 'utf8').digest('hex');
}

/** H(username:realm:password), the part of the response that depends only on the account and realm */
export function digestHa1(alg: string, username: string, realm: string, password: string): string {
  return h(alg, `${username}:${realm}:${password}`);
}

export interface DigestRequest {
  method: string;
  /** the request-target exactly as sent (path and query) */
  uri: string;
  username: string;
  /** H(username:realm:password) from digestHa1 (computed once per realm) */
  ha1: string;
  /** the request count under this nonce, 1 first */
  nc: number;
  cnonce: string;
}

const QUOTE = (v: string) => `"${v.replace(/(["\\])/g, '\\$1')}"`;

/** the `response` value (lowercase hex) for one request under a challenge */
export function digestResponse(c: DigestChallenge, r: DigestRequest): string {
  const alg = c.algorithm;
  const ha1 = alg.toLowerCase().endsWith('-sess') ? h(alg, `${r.ha1}:${c.nonce}:${r.cnonce}`) : r.ha1;
  const ha2 = h(alg, `${r.method}:${r.uri}`);
  if (!c.qop.includes('auth')) return h(alg, `${ha1}:${c.nonce}:${ha2}`);
  return h(alg, `${ha1}:${c.nonce}:${ncHex(r.nc)}:${r.cnonce}:auth:${ha2}`);
}

export const ncHex = (nc: number): string => nc.toString(16).padStart(8, '0');

/** the Authorization header value for one request */
export function authorization(c: DigestChallenge, r: DigestRequest): string {
  const parts = [
    `username=${QUOTE(r.username)}`,
    `realm=${QUOTE(c.realm)}`,
    `nonce=${QUOTE(c.nonce)}`,
    `uri=${QUOTE(r.uri)}`,
    `algorithm=${c.algorithm}`,
    `response="${digestResponse(c, r)}"`,
  ];
  if (c.qop.includes('auth')) parts.push('qop=auth', `nc=${ncHex(r.nc)}`, `cnonce=${QUOTE(r.cnonce)}`);
  if (c.opaque !== undefined) parts.push(`opaque=${QUOTE(c.opaque)}`);
  return `Digest ${parts.join(', ')}`;
}

/** a fresh client nonce: 16 hex digits */
export const newCnonce = (): string => crypto.randomBytes(8).toString('hex');

/**
 * Server side (the simulator's): the fields of an `Authorization: Digest …` header, lowercased
 * names, or undefined if it is not one.
 */
export function parseAuthorization(header: string | undefined): Map<string, string> | undefined {
  if (!header) return undefined;
  const m = /^\s*Digest\s+/i.exec(header);
  return m ? parseParams(header.slice(m[0].length)) : undefined;
}
