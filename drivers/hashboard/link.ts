import { EventEmitter } from 'node:events';
import type { Clock, Timer } from '../../agent/clock';
import { ErrorCode, HashflexError } from '../../agent/errors';
import type { LinkCounters } from '../../agent/hardware';
import type { ByteTransport } from '../transport';
import { decodeResponse, readReg, type Response } from './codec';
import { responseSplitter, type FrameSplitter } from './framing';

export type RegReply = Extract<Response, { kind: 'reg' }>;
export type NonceReply = Extract<Response, { kind: 'nonce' }>;

export interface ReadResult {
  replies: RegReply[];
  /** every expected chip answered before the timeout */
  complete: boolean;
}

interface Waiter {
  reg: number;
  addr?: number;
  expect: number;
  replies: RegReply[];
  done(complete: boolean): void;
}

/**
 * Request/response over one chain's byte transport. BM13xx replies carry no request id, only
 * the register and the answering chip's address, so reads are serialised (one register read in
 * flight) and matched by register; nonce replies arrive unsolicited and are emitted as 'nonce'.
 * Writes need no reply and bypass the read queue, so a trip never waits behind a read.
 * Timeouts run on the injected clock. Events: 'nonce' (NonceReply), 'close' (HashflexError).
 */
export class ChainLink extends EventEmitter {
  private readonly splitter: FrameSplitter;
  private waiter?: Waiter;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** register replies nobody asked for (late answers after a timeout, stray frames) */
  unexpected = 0;

  constructor(
    readonly transport: ByteTransport,
    private readonly clock: Clock,
    readonly counters: LinkCounters,
    /** bits per byte on the wire / baud: turns reply bytes into wire time for timeouts */
    private readonly msPerByte = 10_000 / 115200,
  ) {
    super();
    this.splitter = responseSplitter((f) => this.onFrame(f));
    transport.on('data', this.onData);
    transport.once('close', this.onClose);
  }

  /** a read is waiting for replies */
  get busy(): boolean {
    return this.waiter !== undefined;
  }

  get isOpen(): boolean {
    return !this.closed && this.transport.isOpen;
  }

  /** hand frames to the OS in one write (so a trip's frames leave back to back) */
  send(frames: Buffer | Buffer[]): Promise<void> {
    if (!this.isOpen) return Promise.reject(this.gone());
    return this.transport.write(Array.isArray(frames) ? Buffer.concat(frames) : frames);
  }

  /**
   * Read `reg` from all chips (or the chip at `addr`) and collect `expect` replies. Resolves
   * with what arrived when the timeout (plus the replies' wire time) runs out; rejects with a
   * timeout error if nothing did, or a disconnected error if the link went away.
   */
  read(reg: number, opts: { addr?: number; expect: number; timeoutMs: number }): Promise<ReadResult> {
    const run = () => this.readNow(reg, opts);
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  async close(): Promise<void> {
    this.detach();
    await this.transport.close();
  }

  private readNow(reg: number, opts: { addr?: number; expect: number; timeoutMs: number }): Promise<ReadResult> {
    if (!this.isOpen) return Promise.reject(this.gone());
    this.counters.requests++;
    return new Promise<ReadResult>((resolve, reject) => {
      let timer: Timer | undefined;
      const w: Waiter = {
        reg, addr: opts.addr, expect: Math.max(1, opts.expect), replies: [],
        done: (complete) => {
          timer?.cancel();
          if (this.waiter === w) this.waiter = undefined;
          if (!complete && !this.closed) this.counters.timeouts++;
          if (this.closed && !complete) reject(this.gone());
          else if (w.replies.length === 0) {
            reject(new HashflexError(`no reply to read of register 0x${reg.toString(16)} on ${this.transport.description}`, ErrorCode.TransportTimeout, { timeout: true }));
          } else resolve({ replies: w.replies, complete });
        },
      };
      this.waiter = w;
      const wire = Math.ceil(w.expect * 11 * this.msPerByte);
      timer = this.clock.setTimeout(() => w.done(false), opts.timeoutMs + wire);
      this.transport.write(readReg(reg, opts.addr)).catch(() => w.done(false));
    });
  }

  private readonly onData = (chunk: Buffer): void => {
    const s = this.splitter.stats;
    const before = { frames: s.frames, crcErrors: s.crcErrors, resyncs: s.resyncs };
    this.splitter.push(chunk);
    this.counters.frames += s.frames - before.frames;
    this.counters.crcErrors += s.crcErrors - before.crcErrors;
    this.counters.resyncs += s.resyncs - before.resyncs;
  };

  private onFrame(f: Buffer): void {
    const r = decodeResponse(f);
    if (r.kind === 'nonce') {
      this.emit('nonce', r);
      return;
    }
    const w = this.waiter;
    if (!w || r.reg !== w.reg || (w.addr !== undefined && r.addr !== w.addr)) {
      this.unexpected++;
      return;
    }
    w.replies.push(r);
    if (w.replies.length >= w.expect) w.done(true);
  }

  private readonly onClose = (err?: HashflexError): void => {
    this.detach();
    this.emit('close', err ?? this.gone());
  };

  private detach(): void {
    if (this.closed) return;
    this.closed = true;
    this.transport.off('data', this.onData);
    this.transport.off('close', this.onClose);
    this.waiter?.done(false);
  }

  private gone(): HashflexError {
    return new HashflexError(`${this.transport.description} is closed`, ErrorCode.TransportClosed, { disconnected: true });
  }
}
