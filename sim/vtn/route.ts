import type { z } from 'zod';
import type { Principal } from './auth';
import { badRequest, forbidden, issuesText, type Reply } from './http';
import type { ListQuery } from './query';
import type { VtnState } from './state';
import { page, type Obj } from './store';

/** one endpoint of the simulated VTN and what a handler is given */
export interface Call {
  params: Record<string, string>;
  query: ListQuery;
  /** the parsed JSON body of a POST or PUT (undefined for GET and DELETE) */
  body: unknown;
  who: Principal;
}

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** under the base path, `{name}` for a path parameter */
  path: string;
  handle(s: VtnState, c: Call): Reply | Promise<Reply>;
}

/** a request body checked against the specification's request schema: its data, or a 400 problem */
export function bodyOf<S extends z.ZodTypeAny>(schema: S, body: unknown, what: string): z.output<S> {
  const r = schema.safeParse(body);
  if (!r.success) throw badRequest(`${what}: ${issuesText(r.error)}`);
  return r.data;
}

/** Definitions, security scopes: write_programs and write_events are BL's alone */
export function onlyBl(who: Principal, what: string): void {
  if (who.role !== 'bl') throw forbidden(`only business logic clients may ${what}`);
}

export const ok = (body: unknown, schema: z.ZodTypeAny): Reply => ({ status: 200, body, schema });
export const created = (body: unknown, schema: z.ZodTypeAny): Reply => ({ status: 201, body, schema });
export const listed = (items: Obj[], q: ListQuery, schema: z.ZodTypeAny): Reply => ok(page(items, q.skip, q.limit), schema);
