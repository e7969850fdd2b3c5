import net from 'node:net';
import { ErrorCode, HashflexError } from '../../agent/errors';

/**
 * The cgminer-style API that stock Antminer, Avalon, Whatsminer v2 and LuxOS serve on TCP 4028:
 * one JSON request per connection, a reply that ends at a NUL (or at the server's close), then
 * the server closes. Replies are bounded (MAX_REPLY) and the whole exchange is under one timeout.
 */
const MAX_REPLY = 1 << 20;

export interface RpcTarget {
  host: string;
  port: number;
  timeoutMs: number;
}

/**
 * Send one request and resolve with the raw reply text (NUL and trailing whitespace removed).
 * `signal` aborts the exchange: the socket is destroyed at once and the promise rejects
 * (TransportClosed); a caller that serialises requests to a single-threaded API uses it to clear
 * the line for a trip (drivers/miner/avalon/lane.ts).
 */
export function rpcText(t: RpcTarget, request: string, signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(canceled(t));
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const socket = net.connect({ host: t.host, port: t.port });
    socket.setNoDelay(true);
    const onAbort = () => finish(canceled(t));
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      if (err) return reject(err);
      const text = Buffer.concat(chunks).toString('latin1');
      const nul = text.indexOf('\0');
      resolve((nul >= 0 ? text.slice(0, nul) : text).trimEnd());
    };
    const timer = setTimeout(() => finish(new HashflexError(`${t.host}:${t.port}: no complete reply in ${t.timeoutMs} ms`, ErrorCode.TransportTimeout, { timeout: true })), t.timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => socket.write(request));
    socket.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_REPLY) return finish(new HashflexError(`${t.host}:${t.port}: reply over ${MAX_REPLY} bytes`, ErrorCode.FrameInvalid));
      chunks.push(chunk);
      if (chunk.includes(0)) finish();
    });
    socket.on('end', () => finish());
    socket.on('error', (e: NodeJS.ErrnoException) => finish(size > 0
      // the server reset the connection after part of a reply: say so, not just ECONNRESET
      ? new HashflexError(`${t.host}:${t.port}: connection closed mid-reply after ${size} bytes (${e.code ?? e.message})`, ErrorCode.TransportClosed, { disconnected: true })
      : new HashflexError(`${t.host}:${t.port}: ${e.code ?? e.message}`, ErrorCode.TransportOpenFailed, { disconnected: true })));
  });
}

/**
 * Parse a reply, tolerating what stock firmware is known to send: objects run together with no
 * comma between (`}{`, Antminer `stats`), commas before a closing bracket, bare control
 * characters in strings, and a reply whose opening brace is lost so that it starts with a comma
 * (`,"id":1}`, some Avalon firmware: pyasic's MinerFactory._fix_api_data). Throws a FrameInvalid
 * HashflexError if it is still not JSON.
 */
export function parseRpcReply(text: string): Record<string, unknown> {
  const repaired = text.replace(/}\s*{/g, '},{').replace(/,\s*([\]}])/g, '$1').replace(/[\u0000-\u001f]+/g, ' ');
  const attempts = [
    text,
    repaired,
    ...(/^\s*,/.test(repaired) ? [repaired.replace(/^\s*,/, '{')] : []),
  ];
  for (const a of attempts) {
    try {
      const v: unknown = JSON.parse(a);
      if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
    } catch { /* next repair */ }
  }
  throw new HashflexError(`not a JSON object reply: ${JSON.stringify(text.slice(0, 80))}`, ErrorCode.FrameInvalid);
}

/** One request ({command, parameter}) as JSON; resolves with the parsed reply object. */
export async function rpcCall(t: RpcTarget, command: string, parameter?: string, signal?: AbortSignal): Promise<Record<string, unknown>> {
  const req = parameter === undefined ? { command } : { command, parameter };
  return parseRpcReply(await rpcText(t, JSON.stringify(req), signal));
}

function canceled(t: RpcTarget): HashflexError {
  return new HashflexError(`${t.host}:${t.port}: request canceled`, ErrorCode.TransportClosed, { disconnected: true });
}
