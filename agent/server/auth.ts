import crypto from 'node:crypto';
import type http from 'node:http';

/**
 * Bearer-token auth for the local server. Tokens are compared in constant time: both sides are
 * hashed to 32 bytes first so timingSafeEqual never sees different lengths (which would leak the
 * token's length through an early return).
 *
 * Browsers cannot put a header on a page load or a WebSocket, so the dashboard signs in once with
 * `/?token=...`; the server answers with a cookie and a redirect that drops the token from the
 * address bar. A token in the query is taken only where a browser may need it (QUERY_TOKEN_PATHS:
 * the sign-in page and the live WebSocket): a query string ends up in proxy logs, browser history
 * and Referer headers, so /status and /metrics take the header (or the cookie) only. The cookie holds HMAC-SHA256(token, COOKIE_LABEL), not the token: it proves
 * knowledge of the token, survives agent restarts without a session table, and stops working as
 * soon as the token is changed in the config.
 */

export const COOKIE_NAME = 'hashflex_session';
const COOKIE_LABEL = 'hashflex dashboard cookie v1';

export function safeEqual(got: string, want: string): boolean {
  const a = crypto.createHash('sha256').update(got).digest();
  const b = crypto.createHash('sha256').update(want).digest();
  return crypto.timingSafeEqual(a, b);
}

export function cookieValue(token: string): string {
  return crypto.createHmac('sha256', token).update(COOKIE_LABEL).digest('base64url');
}

export function sessionCookie(token: string): string {
  // SameSite=Strict: no other site can make the browser send it; HttpOnly: page scripts can't read it
  return `${COOKIE_NAME}=${cookieValue(token)}; Path=/; HttpOnly; SameSite=Strict; Max-Age=31536000`;
}

function readCookie(req: http.IncomingMessage, name: string): string | undefined {
  const raw = req.headers.cookie;
  if (!raw) return undefined;
  for (const part of raw.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

export type AuthVia = 'none' | 'header' | 'cookie' | 'query';

/**
 * Paths where `?token=` is accepted: `/`, the dashboard's sign-in (answered with the cookie and a
 * redirect), and `/live`, the WebSocket, for a client that can send neither header nor cookie.
 */
export const QUERY_TOKEN_PATHS: ReadonlySet<string> = new Set(['/', '/live']);

/** how the request proved it knows the token, or undefined if it did not */
export function authenticate(req: http.IncomingMessage, url: URL, token: string | undefined): AuthVia | undefined {
  if (token === undefined) return 'none';
  const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
  if (m && safeEqual(m[1], token)) return 'header';
  const c = readCookie(req, COOKIE_NAME);
  if (c && safeEqual(c, cookieValue(token))) return 'cookie';
  if (!QUERY_TOKEN_PATHS.has(url.pathname)) return undefined;
  const q = url.searchParams.get('token');
  if (q && safeEqual(q, token)) return 'query';
  return undefined;
}
