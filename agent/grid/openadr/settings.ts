import { z } from 'zod';
import { secretFile, secretInlineOf } from '../../security';

/**
 * The `openadr:` section of the config (DESIGN.md §9, snake_case there) and the camelCase
 * settings the VEN runs on. The lead embeds `openAdrSchema` in agent/config.ts, reads the secret
 * by the one rule (security.ts readSecret, key `openadr.client_secret`) and hands the VEN
 * `toOpenAdrSettings(parsed, secret)`.
 */

/** "HOST:PORT" as config.ts spells it (kept here: config.ts imports this file, not the reverse) */
const hostPort = z.string().refine((s) => {
  const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(s);
  return m !== null && Number(m[2]) >= 0 && Number(m[2]) <= 65535;
}, 'expected "HOST:PORT" with a port 0..65535');

const LOOPBACK_HOST = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/;

/**
 * An http(s) url without credentials in it (urls are logged). OpenADR 3 requires TLS (Definition,
 * "HTTPS/TLS": a VEN MUST use HTTPS); plain http is let through only to a loopback address, for
 * a VTN on the same board or a test.
 */
function httpUrl(what: string) {
  return z.string().superRefine((s, ctx) => {
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `expected the ${what} as https://HOST[:PORT][/PATH]` });
      return;
    }
    if (u.protocol !== 'https:' && u.protocol !== 'http:') ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'expected https://' });
    else if (u.protocol === 'http:' && !LOOPBACK_HOST.test(u.hostname)) ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must be https:// (OpenADR 3 requires TLS; http:// only to a loopback address)' });
    if (u.username || u.password) ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must not carry credentials: use client_id and client_secret or client_secret_file' });
  });
}

/** SIMPLE payload levels (Definition, event payload SIMPLE: an integer 0, 1, 2 or 3) */
const simpleLevel = z.string().regex(/^[0-3]$/, 'SIMPLE levels are 0, 1, 2 and 3');

export const openAdrSchema = z.object({
  /** the VTN's API base, e.g. https://vtn.example/openadr3/3.1.0 */
  vtn_url: httpUrl('VTN API base'),
  /** OAuth2 client credentials issued by the program (absent together: a VTN that asks no token) */
  client_id: z.string().min(1).max(4096).optional(),
  /** the VTN's own secret: the secret line rule, no minimum beyond one character */
  client_secret: secretInlineOf(1).optional(),
  client_secret_file: secretFile.optional(),
  /** the VEN object at the VTN (found by name, created if missing) */
  ven_name: z.string().min(1).max(128),
  /** the resource the VEN reports on */
  resource_name: z.string().min(1).max(128).default('miners'),
  /** program names to follow; default every program the VEN can read */
  programs: z.array(z.string().min(1).max(128)).min(1, 'list at least one program, or leave programs out to follow all').optional(),
  /** polling period, s; polling always runs, notifications only shorten the wait */
  poll_s: z.number().int().min(1).max(3600).default(30),
  /** SIMPLE level → share of control.max_kw (0 curtails); a level not listed is ignored */
  simple_levels: z.record(simpleLevel, z.number().min(0).max(1)).default({ 1: 0.5, 2: 0.25, 3: 0 }),
  /** PRICE events: mine only in intervals priced at or below this, per kWh (currency below) */
  max_price: z.number().min(-1e6).max(1e6).optional(),
  /** the currency max_price is in (ISO 4217); a PRICE in another currency is ignored */
  currency: z.string().regex(/^[A-Z]{3}$/, 'expected an ISO 4217 code such as "USD"').optional(),
  /** PEM CA bundle that signed the VTN's certificate (a private CA) */
  ca_file: z.string().min(1).optional(),
  /** the OAuth2 token endpoint, when the VTN's GET /auth/server is not to be asked */
  token_url: httpUrl('token endpoint').optional(),
  /** webhook notifications: the local listener, and the base the VTN calls back (default http://listen) */
  notify: z.object({
    listen: hostPort,
    url: httpUrl('callback base').optional(),
  }).strict().optional(),
  /** per-request timeout, ms */
  timeout_ms: z.number().int().min(100).max(120_000).default(10_000),
}).strict().superRefine((o, ctx) => {
  const issue = (path: string, message: string) => ctx.addIssue({ code: z.ZodIssueCode.custom, path: [path], message });
  if (o.client_secret !== undefined && o.client_secret_file !== undefined) issue('client_secret', 'give client_secret or client_secret_file, not both');
  const secret = o.client_secret !== undefined || o.client_secret_file !== undefined;
  if (o.client_id !== undefined && !secret) issue('client_secret', 'required with client_id (or client_secret_file)');
  if (o.client_id === undefined && secret) issue('client_id', 'required with a client secret');
  if (o.max_price === undefined && o.currency !== undefined) issue('currency', 'only means something with max_price');
  // the VTN must be told an address it can call: a wildcard listen has none of its own
  if (o.notify && !o.notify.url && /^(0\.0\.0\.0|\[::\]):/.test(o.notify.listen)) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['notify', 'url'], message: 'required when notify.listen is a wildcard address: the https:// base the VTN calls back' });
  }
});

export type OpenAdrConfig = z.output<typeof openAdrSchema>;

/** what the VEN runs on: the section in camelCase, its secret read */
export interface OpenAdrSettings {
  vtnUrl: string;
  clientId?: string;
  clientSecret?: string;
  venName: string;
  resourceName: string;
  programs?: string[];
  pollS: number;
  /** SIMPLE level → share of max_kw */
  simpleLevels: Record<number, number>;
  maxPrice?: number;
  currency?: string;
  caFile?: string;
  tokenUrl?: string;
  notify?: { listen: string; url?: string };
  timeoutMs?: number;
}

/** the parsed section and its secret (client_secret, or the file's first line) → settings */
export function toOpenAdrSettings(c: OpenAdrConfig, clientSecret = c.client_secret): OpenAdrSettings {
  const levels: Record<number, number> = {};
  for (const [k, v] of Object.entries(c.simple_levels)) levels[Number(k)] = v;
  return {
    vtnUrl: c.vtn_url,
    clientId: c.client_id,
    clientSecret,
    venName: c.ven_name,
    resourceName: c.resource_name,
    programs: c.programs,
    pollS: c.poll_s,
    simpleLevels: levels,
    maxPrice: c.max_price,
    currency: c.currency,
    caFile: c.ca_file,
    tokenUrl: c.token_url,
    notify: c.notify,
    timeoutMs: c.timeout_ms,
  };
}
