import crypto from 'node:crypto';
import type { Clock } from '../../agent/clock';
import { clientCredentialRequestSchema, type ClientCredentialResponse } from '../../agent/grid/openadr/spec';

/**
 * The VTN's OAuth2 client-credentials service (Definitions, "OAuth 2.0 client credential flow";
 * RFC 6749 §4.4): clients provisioned out of band, opaque bearer tokens with a lifetime, expiry
 * enforced on every request. Roles as Definitions' security scopes: a `ven` reads what is
 * targeted at it and writes its own ven, resources, reports and subscriptions; `bl` (business
 * logic) writes programs and events and reads everything.
 */

export type Role = 'ven' | 'bl';

export interface SimVtnClient {
  id: string;
  secret: string;
  /** default 'ven' */
  role?: Role;
}

export interface Principal {
  clientId: string;
  role: Role;
}

interface Token extends Principal {
  expiresAt: number;
}

/** the outcome of a token request: a token, or an RFC 6749 §5.2 error with its HTTP status */
export type TokenOutcome =
  | { ok: true; body: ClientCredentialResponse }
  | { ok: false; status: number; error: string; description: string };

export class TokenService {
  private readonly tokens = new Map<string, Token>();
  private readonly clients = new Map<string, SimVtnClient>();
  /** tokens issued so far, per client (tests assert a refresh happened) */
  readonly issued = new Map<string, number>();

  constructor(clients: SimVtnClient[], private readonly clock: Clock, public ttlS: number) {
    for (const c of clients) this.clients.set(c.id, c);
  }

  /**
   * POST /auth/token: the form fields, with the client's credentials in the body or in an HTTP
   * Basic header (RFC 6749 §2.3.1 lets a client use either).
   */
  issue(form: URLSearchParams, authorization: string | undefined): TokenOutcome {
    const fields: Record<string, string> = Object.fromEntries(form);
    const basic = /^Basic\s+(.+)$/i.exec(authorization ?? '');
    if (basic) {
      const [id, secret] = Buffer.from(basic[1], 'base64').toString('utf8').split(':');
      fields.client_id ??= decodeURIComponent(id ?? '');
      fields.client_secret ??= decodeURIComponent(secret ?? '');
    }
    if (fields.grant_type !== undefined && fields.grant_type !== 'client_credentials') {
      return { ok: false, status: 400, error: 'unsupported_grant_type', description: `grant_type ${fields.grant_type} is not served here` };
    }
    const parsed = clientCredentialRequestSchema.safeParse(fields);
    if (!parsed.success) return { ok: false, status: 400, error: 'invalid_request', description: 'grant_type, client_id and client_secret are required' };
    const client = this.clients.get(parsed.data.client_id);
    if (!client || !sameSecret(client.secret, parsed.data.client_secret)) {
      return { ok: false, status: 401, error: 'invalid_client', description: 'unknown client or wrong secret' };
    }
    const token = crypto.randomBytes(24).toString('hex');
    this.tokens.set(token, { clientId: client.id, role: client.role ?? 'ven', expiresAt: this.clock.now() + this.ttlS * 1000 });
    this.issued.set(client.id, (this.issued.get(client.id) ?? 0) + 1);
    return { ok: true, body: { access_token: token, token_type: 'Bearer', expires_in: this.ttlS } };
  }

  /** the principal behind `Authorization: Bearer …`, or why not */
  check(authorization: string | undefined): Principal | { reason: string } {
    const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    if (!m) return { reason: 'no bearer token' };
    const t = this.tokens.get(m[1]);
    if (!t) return { reason: 'unknown token' };
    if (this.clock.now() >= t.expiresAt) return { reason: 'token expired' };
    return { clientId: t.clientId, role: t.role };
  }

  /** operator: every token issued so far expires now (clients must fetch new ones) */
  expireAll(): void {
    for (const t of this.tokens.values()) t.expiresAt = Math.min(t.expiresAt, this.clock.now());
  }

  /** operator: a client's secret changes (its old tokens stay valid until they expire) */
  setSecret(clientId: string, secret: string): void {
    const c = this.clients.get(clientId);
    if (c) c.secret = secret;
    else this.clients.set(clientId, { id: clientId, secret });
  }
}

function sameSecret(a: string, b: string): boolean {
  const x = crypto.createHash('sha256').update(a).digest();
  const y = crypto.createHash('sha256').update(b).digest();
  return crypto.timingSafeEqual(x, y);
}
