import http from 'node:http';
import { ErrorCode, isHashflexError } from '../../agent/errors';
import { parseRpcReply, rpcText } from './rpc';
import type { Identify, MinerEvidence, MinerIdentity } from './identify';

/**
 * Probing one address for what it is, the way open clients' factories do (pyasic
 * pyasic/miners/factory.py: the 4028 API's `version` and `devdetails`, and the web server's
 * `GET /`), then asking each firmware family whether the evidence is its own
 * (`identify`: drivers/miner/index.ts identifyMiner). Shared by `hashflex discover` and `driver: auto`.
 *
 * Order and cost, per address: `version` on 4028 and `GET /` on 80 at once (an absent address
 * costs one timeout, not two); `devdetails` on 4028 only after `version` got a JSON reply (a host
 * that refuses, hangs or answers garbage on 4028 is asked nothing more there, and Avalon's API is
 * single-threaded, so its two requests go one after the other). Every exchange is bounded by
 * `timeoutMs` (connect to last byte) and by the caller's `signal`; a reply is read up to 1 MiB
 * (rpc.ts), a web body up to WEB_BODY_MAX. Nothing is ever written: reads only, no logon.
 *
 * The family-specific ports (Whatsminer API v3 on 4433, LuxOS/Braiins gRPC) are left to the
 * family's driver, which reads them after identification (discover's status step, auto's start).
 */
export const WEB_BODY_MAX = 64 * 1024;

export interface ProbePorts {
  api?: number;
  web?: number;
}

/** how one port answered */
export type Answer = 'json' | 'garbage' | 'refused' | 'timeout' | 'closed' | 'http' | 'not-http' | 'aborted';

export interface ProbeResult {
  host: string;
  evidence: MinerEvidence;
  /** how 4028 (`version`) and the web port answered */
  api: Answer;
  web: Answer;
  identity?: MinerIdentity;
}

/** something at the address answered on one of the ports (a host, if not a miner we know) */
export const answered = (r: ProbeResult): boolean => ['json', 'garbage', 'http', 'not-http'].includes(r.api) || ['json', 'garbage', 'http', 'not-http'].includes(r.web);

/**
 * Connection slots: at most `size` probe connections open at once across a whole run. Each
 * exchange takes one for its lifetime (connect to close); a driver reading a found miner takes
 * two (it may have its API and web requests out at once). Waiters are served in order.
 */
export class Slots {
  private free: number;
  private readonly waiting: { n: number; go: () => void }[] = [];
  /** the most held at once (tests read it) */
  peak = 0;

  constructor(readonly size: number) {
    this.free = size;
  }

  async run<T>(fn: () => Promise<T>, want = 1): Promise<T> {
    const n = Math.min(Math.max(1, want), this.size);
    if (this.waiting.length === 0 && this.free >= n) this.free -= n;
    else await new Promise<void>((go) => this.waiting.push({ n, go }));
    this.peak = Math.max(this.peak, this.size - this.free);
    try {
      return await fn();
    } finally {
      this.free += n;
      while (this.waiting.length && this.free >= this.waiting[0].n) {
        const w = this.waiting.shift()!;
        this.free -= w.n;
        w.go();
      }
    }
  }
}

export interface ProbeOptions {
  /** asks each family in turn (drivers/miner/index.ts identifyMiner; passed in, so that the
   * registry that loads this module's users is not imported by it) */
  identify: Identify;
  timeoutMs: number;
  ports?: ProbePorts;
  slots?: Slots;
  signal?: AbortSignal;
}

export async function probeHost(host: string, o: ProbeOptions): Promise<ProbeResult> {
  const slots = o.slots ?? new Slots(2);
  const api = { host, port: o.ports?.api ?? 4028, timeoutMs: o.timeoutMs };
  const evidence: MinerEvidence = {};
  const askApi = async (command: string): Promise<{ answer: Answer; reply?: Record<string, unknown> }> => {
    let text: string;
    try {
      text = await slots.run(() => rpcText(api, JSON.stringify({ command }), o.signal));
    } catch (e) {
      return { answer: answerOf(e, o.signal) };
    }
    if (!text) return { answer: 'closed' };
    try {
      return { answer: 'json', reply: parseRpcReply(text) };
    } catch {
      return { answer: 'garbage' };
    }
  };
  const [version, web] = await Promise.all([
    askApi('version'),
    slots.run(() => getRoot(host, o.ports?.web ?? 80, o.timeoutMs, o.signal)),
  ]);
  if (version.reply) evidence.version = version.reply;
  if (web.web) evidence.web = web.web;
  if (version.answer === 'json' && !o.signal?.aborted) {
    const dev = await askApi('devdetails');
    if (dev.reply) evidence.devdetails = dev.reply;
  }
  return { host, evidence, api: version.answer, web: web.answer, identity: o.identify(evidence) };
}

function answerOf(e: unknown, signal?: AbortSignal): Answer {
  if (signal?.aborted) return 'aborted';
  if (!isHashflexError(e)) return 'closed';
  if (e.timeout) return 'timeout';
  if (e.code === ErrorCode.FrameInvalid) return 'garbage'; // a reply over rpc.ts's bound
  if (e.code === ErrorCode.TransportClosed) return 'closed'; // reset mid-reply
  // no connection: refused, or no route to the host; a reset before any byte is a host that closed
  return /ECONNRESET|EPIPE/.test(e.message) ? 'closed' : 'refused';
}

/**
 * `GET /` without following redirects (a Whatsminer's 307 to https is the evidence), with the
 * status, the headers (names lower-cased, repeated ones joined) and up to WEB_BODY_MAX of the body.
 */
export function getRoot(host: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<{ answer: Answer; web?: MinerEvidence['web'] }> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve({ answer: 'aborted' });
    let done = false;
    const finish = (r: { answer: Answer; web?: MinerEvidence['web'] }) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      req.destroy();
      resolve(r);
    };
    const req = http.request({ host, port, path: '/', method: 'GET', agent: false, headers: { accept: 'text/html,*/*', connection: 'close' } }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
      const settle = () => finish({ answer: 'http', web: { status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks).toString('utf8') } });
      res.on('data', (c: Buffer) => {
        if (size >= WEB_BODY_MAX) return;
        chunks.push(c.subarray(0, WEB_BODY_MAX - size));
        size += c.length;
        if (size >= WEB_BODY_MAX) settle(); // enough to tell: the rest is not read
      });
      res.on('end', settle);
      // a body cut short still says what the page is: keep what came
      res.on('error', settle);
      res.on('aborted', settle);
    });
    const onAbort = () => finish({ answer: 'aborted' });
    const timer = setTimeout(() => finish({ answer: 'timeout' }), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNREFUSED' || e.code === 'EHOSTUNREACH' || e.code === 'ENETUNREACH') return finish({ answer: 'refused' });
      if (e.code === 'HPE_INVALID_CONSTANT' || String(e.code).startsWith('HPE_')) return finish({ answer: 'not-http' });
      finish({ answer: 'closed' });
    });
    req.end();
  });
}
