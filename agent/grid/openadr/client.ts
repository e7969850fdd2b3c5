import { z } from 'zod';
import { ErrorCode, HashflexError } from '../../errors';
import { parseJson, type TokenSource } from './auth';
import {
  eventSchema, MAX_LIMIT, notifiersResponseSchema, notifierTopicsResponseSchema, problemSchema, programSchema,
  reportSchema, resourceSchema, subscriptionSchema, venSchema,
  type NotifiersResponse, type NotifierTopicsResponse, type OadrEvent, type Program, type ReportRequest, type Resource,
  type ResourceRequest, type Subscription, type SubscriptionRequest, type Ven, type VenRequest,
} from './spec';
import { safeUrl, type Send } from './transport';

/**
 * The VTN's REST API as the VEN uses it, every reply checked against the specification's schema
 * (spec.ts) before anything reads it: a reply that is not JSON, or not the schema, is a
 * VtnProtocol fault, never half-used. 3.1.0 paths first; where a 3.0.1 VTN answers 404 for a
 * 3.1.0-only path (/resources) the 3.0.1 one is used.
 */

/** pages read at most per list: 20 × 50 objects is far beyond what one VEN is targeted with */
export const MAX_PAGES = 20;

type Query = Record<string, string | string[] | undefined>;

/** an object of a list left out because it is not the specification's schema */
export interface Rejected {
  path: string;
  id?: string;
  reason: string;
}

export class VtnClient {
  /** 3.0.1 keeps resources under their ven; learnt from a 404 on /resources */
  private nestedResources = false;
  /** objects of the last lists read that were left out, with why (the VEN logs them) */
  rejected: Rejected[] = [];

  constructor(private readonly base: string, private readonly send: Send, private readonly auth: TokenSource) {
    this.base = base.replace(/\/+$/, '');
  }

  async vensNamed(venName: string): Promise<Ven[]> {
    return (await this.list('/vens', { venName }, venSchema)).filter((v) => v.venName === venName);
  }

  createVen(body: VenRequest): Promise<Ven> {
    return this.request('POST', '/vens', venSchema, { body });
  }

  async resourcesNamed(venId: string, resourceName: string): Promise<Resource[]> {
    const mine = (list: Resource[]) => list.filter((r) => r.resourceName === resourceName && (r.venID === undefined || r.venID === venId));
    if (!this.nestedResources) {
      try {
        return mine(await this.list('/resources', { venID: venId, resourceName }, resourceSchema));
      } catch (e) {
        if (!isStatus(e, 404)) throw e;
        this.nestedResources = true;
      }
    }
    return mine(await this.list(`/vens/${encodeURIComponent(venId)}/resources`, { resourceName }, resourceSchema));
  }

  createResource(venId: string, body: ResourceRequest): Promise<Resource> {
    return this.nestedResources
      ? this.request('POST', `/vens/${encodeURIComponent(venId)}/resources`, resourceSchema, { body })
      : this.request('POST', '/resources', resourceSchema, { body: { ...body, venID: venId } });
  }

  programs(targets: string[] = []): Promise<Program[]> {
    return this.list('/programs', { targets: targets.length ? targets : undefined }, programSchema);
  }

  events(programId: string, targets: string[] = []): Promise<OadrEvent[]> {
    return this.list('/events', { programID: programId, targets: targets.length ? targets : undefined }, eventSchema, true);
  }

  postReport(body: ReportRequest): Promise<unknown> {
    return this.request('POST', '/reports', reportSchema, { body });
  }

  /** GET /notifiers (3.1.0); a 3.0.1 VTN has none and offers webhooks only */
  async notifiers(): Promise<NotifiersResponse> {
    try {
      return await this.request('GET', '/notifiers', notifiersResponseSchema);
    } catch (e) {
      if (isStatus(e, 404)) return { WEBHOOK: true };
      throw e;
    }
  }

  /** the MQTT topics for events targeted at one VEN (3.1.0 /notifiers/mqtt/topics/vens/{venID}/events) */
  venEventTopics(venId: string): Promise<NotifierTopicsResponse> {
    return this.request('GET', `/notifiers/mqtt/topics/vens/${encodeURIComponent(venId)}/events`, notifierTopicsResponseSchema);
  }

  subscriptions(clientName: string): Promise<Subscription[]> {
    return this.list('/subscriptions', { clientName }, subscriptionSchema);
  }

  createSubscription(body: SubscriptionRequest): Promise<Subscription> {
    return this.request('POST', '/subscriptions', subscriptionSchema, { body });
  }

  async deleteSubscription(id: string): Promise<void> {
    await this.request('DELETE', `/subscriptions/${encodeURIComponent(id)}`, subscriptionSchema);
  }

  /**
   * Every page of a list (skip/limit, Definitions "Response Filtering"), up to MAX_PAGES. A reply
   * that is not a list, or holds an object that is not the schema, is a fault; `lenient` lists
   * (events) leave out such an object when it has a readable id, noted in `rejected`, so one
   * malformed event cannot hide a valid one beside it.
   */
  private async list<T>(path: string, query: Query, item: z.ZodType<T, z.ZodTypeDef, unknown>, lenient = false): Promise<T[]> {
    const out: T[] = [];
    const seen = new Set<string>();
    for (let page = 0; page < MAX_PAGES; page++) {
      const got = await this.request('GET', path, ANY_LIST, { query: { ...query, skip: String(page * MAX_LIMIT), limit: String(MAX_LIMIT) } });
      for (const raw of got) {
        const id = idOf(raw);
        // a VTN that ignores skip sends the same objects again
        if (id !== undefined && seen.has(id)) continue;
        if (id !== undefined) seen.add(id);
        const r = item.safeParse(raw);
        if (r.success) out.push(r.data);
        // an object unreadable down to its id, or any unreadable one where each matters, is a fault
        else if (id === undefined || !lenient) throw new VtnError(`GET ${path}: an object is not the specification's schema (${firstIssue(r.error)})`, ErrorCode.VtnProtocol, 200);
        else this.rejected.push({ path, id, reason: firstIssue(r.error) });
      }
      // fewer than a page: the last one; more than asked for: a VTN that ignores limit sent all
      if (got.length !== MAX_LIMIT) return out;
    }
    throw new HashflexError(`GET ${path}: more than ${MAX_PAGES * MAX_LIMIT} objects`, ErrorCode.VtnProtocol);
  }

  /** one call: bearer token, JSON, the reply checked; a 401 fetches a new token and tries once more */
  async request<T>(method: string, path: string, schema: z.ZodType<T, z.ZodTypeDef, unknown>, o: { query?: Query; body?: unknown } = {}): Promise<T> {
    const url = new URL(this.base + path);
    for (const [k, v] of Object.entries(o.query ?? {})) {
      if (v === undefined) continue;
      for (const one of Array.isArray(v) ? v : [v]) url.searchParams.append(k, one);
    }
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { accept: 'application/json' };
      const token = await this.auth.bearer();
      if (token) headers.authorization = `Bearer ${token}`;
      if (o.body !== undefined) headers['content-type'] = 'application/json';
      const res = await this.send({ method, url: url.toString(), headers, body: o.body === undefined ? undefined : JSON.stringify(o.body) });
      if (res.status === 401 && this.auth.enabled && attempt === 0) {
        this.auth.invalidate();
        continue;
      }
      const json = parseJson(res.text);
      if (res.status < 200 || res.status > 299) {
        const p = problemSchema.safeParse(json);
        const detail = p.success ? [p.data.title, p.data.detail].filter(Boolean).join(': ').slice(0, 200) : '';
        const code = res.status === 401 || res.status === 403 ? ErrorCode.VtnAuth : ErrorCode.VtnRefused;
        throw new VtnError(`${method} ${safeUrl(url.toString())}: HTTP ${res.status}${detail ? ` (${detail})` : ''}`, code, res.status);
      }
      if (json === undefined) throw new VtnError(`${method} ${safeUrl(url.toString())}: the reply is not JSON`, ErrorCode.VtnProtocol, res.status);
      const parsed = schema.safeParse(json);
      if (!parsed.success) {
        throw new VtnError(`${method} ${safeUrl(url.toString())}: the reply is not the specification's schema (${firstIssue(parsed.error)})`, ErrorCode.VtnProtocol, res.status);
      }
      return parsed.data;
    }
  }
}

/** a refusal or bad reply from the VTN, with its HTTP status */
export class VtnError extends HashflexError {
  constructor(message: string, code: ErrorCode, readonly status: number) {
    super(message, code);
  }
}

export function isStatus(e: unknown, status: number): boolean {
  return e instanceof VtnError && e.status === status;
}

const ANY_LIST = z.array(z.unknown()).max(MAX_PAGES * MAX_LIMIT);

function firstIssue(e: z.ZodError): string {
  const i = e.issues[0];
  return `${i.path.join('.') || 'body'}: ${i.message}`.slice(0, 200);
}

function idOf(raw: unknown): string | undefined {
  const id = (raw as { id?: unknown } | null)?.id;
  return typeof id === 'string' ? id.slice(0, 128) : undefined;
}
