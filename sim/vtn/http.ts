import type http from 'node:http';
import type { z } from 'zod';
import { problemSchema } from '../../agent/grid/openadr/spec';

/**
 * The small HTTP layer under the simulated VTN: path patterns with `{param}` segments, bodies
 * read with a size cap, and replies that carry the schema they must satisfy, so the server checks
 * every response it sends against the specification before it is written (sim/vtn/server.ts).
 */

/** a reply and the schema of the specification it must satisfy */
export interface Reply {
  status: number;
  body: unknown;
  schema: z.ZodTypeAny;
  headers?: Record<string, string>;
  /** why this reply is not checked against `schema`: a fault or a raw object the operator injected on purpose */
  unchecked?: string;
}

/** a request for a reply that is a problem object (Definitions: every 40x and 500 carries one) */
export class ProblemError extends Error {
  constructor(readonly status: number, readonly title: string, readonly detail?: string, readonly headers?: Record<string, string>) {
    super(detail ?? title);
  }
}

export function problem(status: number, title: string, detail?: string, headers?: Record<string, string>): Reply {
  return { status, body: { status, title, ...(detail !== undefined ? { detail } : {}) }, schema: problemSchema, headers };
}

export const notFound = (detail: string): ProblemError => new ProblemError(404, 'Not Found', detail);
export const badRequest = (detail: string): ProblemError => new ProblemError(400, 'Bad Request', detail);
export const forbidden = (detail: string): ProblemError => new ProblemError(403, 'Forbidden', detail);
export const conflict = (detail: string): ProblemError => new ProblemError(409, 'Conflict', detail);

/** a body larger than this is refused before it is parsed */
export const MAX_BODY = 1024 * 1024;

export function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
      // the rest is drained unread so the client hears the 413; past 8 × the limit it is cut off
      else if (size > 8 * MAX_BODY) req.destroy();
    });
    req.on('end', () => {
      if (size > MAX_BODY) reject(new ProblemError(413, 'Payload Too Large', `bodies are limited to ${MAX_BODY} bytes`));
      else resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', reject);
  });
}

/** `/events/{eventID}` matched against `/events/event-3` -> { eventID: 'event-3' } */
export function matchPath(pattern: string, path: string): Record<string, string> | undefined {
  const want = pattern.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i];
    if (w.startsWith('{') && w.endsWith('}')) {
      let v: string;
      try {
        v = decodeURIComponent(got[i]);
      } catch {
        return undefined;
      }
      if (v === '') return undefined;
      params[w.slice(1, -1)] = v;
    } else if (w !== got[i]) return undefined;
  }
  return params;
}

/** zod issues as one line a client can act on: `intervals.0.payloads: Required; ...` */
export function issuesText(error: z.ZodError): string {
  return error.issues
    .slice(0, 8)
    .map((i) => `${i.path.length ? i.path.join('.') : '(body)'}: ${i.message}`)
    .join('; ');
}

/** query parameters as the OpenAPI file declares them: repeated keys become arrays */
export function queryObject(params: URLSearchParams): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const key of new Set(params.keys())) {
    const all = params.getAll(key);
    out[key] = all.length > 1 ? all : all[0];
  }
  return out;
}
