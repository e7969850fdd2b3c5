import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { Clock } from '../../clock';
import { ErrorCode, HashflexError } from '../../errors';

/**
 * HTTP to the VTN. Node 20's fetch cannot be given a CA without the undici package (not a
 * dependency here), so requests go through node:https with `ca` from openadr.ca_file; tests and
 * callers may inject a fetch of their own instead. Every request is bounded twice: in time, by
 * the injected clock (a virtual clock times out a hung VTN in a test), and in size (a VTN
 * streaming garbage cannot fill the board's memory).
 */

export interface HttpRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
}

export interface HttpResponse {
  status: number;
  headers: { get(name: string): string | null };
  text: string;
}

/** one request, one answer; rejects with a HashflexError flagged timeout or disconnected */
export type Send = (req: HttpRequest) => Promise<HttpResponse>;

export interface Transport {
  send: Send;
  /** drop the kept-alive connections (at stop: nothing left holding the process) */
  close(): void;
}

/** a reply larger than this is cut off and refused (events for a day of 5-minute prices are ~100 kB) */
export const MAX_REPLY_BYTES = 4 * 1024 * 1024;

export interface TransportOptions {
  clock: Clock;
  timeoutMs: number;
  /** PEM bundle that signed the VTN's (and the token endpoint's) certificate */
  caFile?: string;
  /** a fetch to use instead of node:https (tests; a proxy) */
  fetch?: typeof fetch;
}

export function makeTransport(o: TransportOptions): Transport {
  // read once: a CA file that cannot be read fails every request with that reason (never a
  // certificate error that would send the technician looking at the VTN)
  let ca: Buffer | undefined;
  let caProblem: HashflexError | undefined;
  try {
    ca = o.caFile ? fs.readFileSync(o.caFile) : undefined;
  } catch (e) {
    caProblem = new HashflexError(`openadr.ca_file: cannot read ${o.caFile} (${(e as NodeJS.ErrnoException).code ?? e})`, ErrorCode.ConfigInvalid);
  }
  const agent = new https.Agent({ keepAlive: true, ca, minVersion: 'TLSv1.2' });
  const plain = new http.Agent({ keepAlive: true });
  const send: Send = (req) => {
    if (caProblem) return Promise.reject(caProblem);
    const ac = new AbortController();
    const timer = o.clock.setTimeout(() => ac.abort(), o.timeoutMs);
    const run = o.fetch ? viaFetch(o.fetch, req, ac.signal) : viaNode(req, ac.signal, req.url.startsWith('https:') ? agent : plain);
    return run.then(
      (r) => { timer.cancel(); return r; },
      (e) => {
        timer.cancel();
        if (ac.signal.aborted) throw new HashflexError(`${req.method} ${safeUrl(req.url)}: no answer in ${o.timeoutMs} ms`, ErrorCode.TransportTimeout, { timeout: true });
        if (e instanceof HashflexError) throw e;
        throw new HashflexError(`${req.method} ${safeUrl(req.url)}: ${describe(e)}`, ErrorCode.TransportOpenFailed, { disconnected: true }, { cause: e });
      },
    );
  };
  return { send, close: () => { agent.destroy(); plain.destroy(); } };
}

/** a url as logged: no query (it may carry a filter nobody needs in a log), no credentials */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(bad url)';
  }
}

function describe(e: unknown): string {
  const err = e as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  return err?.cause?.code ?? err?.code ?? err?.message ?? String(e);
}

async function viaFetch(f: typeof fetch, req: HttpRequest, signal: AbortSignal): Promise<HttpResponse> {
  const res = await f(req.url, { method: req.method, headers: req.headers, body: req.body, signal, redirect: 'manual' });
  const buf = Buffer.from(await res.arrayBuffer());
  if (buf.length > MAX_REPLY_BYTES) throw tooLarge(req);
  return { status: res.status, headers: res.headers, text: buf.toString('utf8') };
}

function viaNode(req: HttpRequest, signal: AbortSignal, agent: http.Agent): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const lib = req.url.startsWith('https:') ? https : http;
    const headers = { ...req.headers, ...(req.body !== undefined ? { 'content-length': String(Buffer.byteLength(req.body)) } : {}) };
    const r = lib.request(req.url, { method: req.method, headers, agent, signal }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_REPLY_BYTES) {
          res.destroy();
          reject(tooLarge(req));
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => resolve({
        status: res.statusCode ?? 0,
        headers: { get: (name) => { const v = res.headers[name.toLowerCase()]; return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v; } },
        text: Buffer.concat(chunks).toString('utf8'),
      }));
      res.on('error', reject);
    });
    r.on('error', reject);
    if (req.body !== undefined) r.write(req.body);
    r.end();
  });
}

function tooLarge(req: HttpRequest): HashflexError {
  return new HashflexError(`${req.method} ${safeUrl(req.url)}: reply over ${MAX_REPLY_BYTES} bytes refused`, ErrorCode.VtnProtocol);
}
