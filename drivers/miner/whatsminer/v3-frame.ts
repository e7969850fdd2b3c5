import net from 'node:net';
import { ErrorCode, HashflexError } from '../../../agent/errors';

/**
 * Whatsminer API v3 framing on TCP 4433: every message (request or reply) is a 4-byte
 * little-endian length, then that many bytes of JSON (pyasic pyasic/rpc/btminer.py
 * `BTMinerV3RPCAPI`: struct.pack("<I", len) + json; MicroBT's v3 sample client does the same).
 */
export const V3_MAX_FRAME = 1 << 20;

export function encodeV3Frame(json: string): Buffer {
  const body = Buffer.from(json, 'utf8');
  const head = Buffer.alloc(4);
  head.writeUInt32LE(body.length, 0);
  return Buffer.concat([head, body]);
}

/** Reassembles frames from a byte stream split anywhere; throws FrameInvalid on an impossible length. */
export class V3FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);

  constructor(private readonly max = V3_MAX_FRAME) {}

  push(chunk: Buffer): Buffer[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const frames: Buffer[] = [];
    while (this.buf.length >= 4) {
      const n = this.buf.readUInt32LE(0);
      if (n === 0 || n > this.max) throw new HashflexError(`v3 frame length ${n} out of range 1..${this.max}`, ErrorCode.FrameInvalid);
      if (this.buf.length < 4 + n) break;
      frames.push(this.buf.subarray(4, 4 + n));
      this.buf = this.buf.subarray(4 + n);
    }
    return frames;
  }

  /** bytes held of a frame not yet complete */
  get pending(): number {
    return this.buf.length;
  }
}

export interface V3Target {
  host: string;
  port: number;
  timeoutMs: number;
}

/** One request on its own connection; resolves with the reply frame parsed as a JSON object. */
export function v3Request(t: V3Target, request: Record<string, unknown>): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const where = `${t.host}:${t.port}`;
    const decoder = new V3FrameDecoder();
    let done = false;
    const socket = net.connect({ host: t.host, port: t.port });
    socket.setNoDelay(true);
    const finish = (err: Error | undefined, value?: Record<string, unknown>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(value!);
    };
    const timer = setTimeout(
      () => finish(new HashflexError(`${where}: no complete v3 reply in ${t.timeoutMs} ms`, ErrorCode.TransportTimeout, { timeout: true })),
      t.timeoutMs,
    );
    socket.once('connect', () => socket.write(encodeV3Frame(JSON.stringify(request))));
    socket.on('data', (chunk: Buffer) => {
      let frames: Buffer[];
      try {
        frames = decoder.push(chunk);
      } catch (e) {
        return finish(e as Error);
      }
      if (frames.length === 0) return;
      const text = frames[0].toString('utf8');
      try {
        const v: unknown = JSON.parse(text);
        if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
        finish(undefined, v as Record<string, unknown>);
      } catch {
        finish(new HashflexError(`${where}: v3 reply is not a JSON object: ${JSON.stringify(text.slice(0, 80))}`, ErrorCode.FrameInvalid));
      }
    });
    socket.on('end', () =>
      finish(new HashflexError(`${where}: closed ${decoder.pending ? 'mid-reply' : 'before replying'}`, ErrorCode.TransportClosed, { disconnected: true })),
    );
    socket.on('error', (e: NodeJS.ErrnoException) =>
      finish(new HashflexError(`${where}: ${e.code ?? e.message}`, ErrorCode.TransportOpenFailed, { disconnected: true })),
    );
  });
}
