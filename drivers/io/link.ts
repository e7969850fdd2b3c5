import { EventEmitter } from 'node:events';
import type { FirmataTransport } from 'firmata';
import { ErrorCode, HashflexError } from '../../agent/errors';
import type { ByteTransport } from '../transport';

/**
 * The transport firmata.js is handed: a serialport-shaped face (write with callback, 'open',
 * 'data', 'close' events) over one ByteTransport, so the same driver runs over a local port and
 * over TCP. It also
 *  - joins the writes that follow the first of one synchronous run into one (see write());
 *  - counts writes not yet handed to the OS (`inFlight`), for the trip-latency figure;
 *  - lets the driver see each chunk before firmata.js parses it (`onChunk`), to stamp arrival
 *    and feed the stream monitor;
 *  - detaches from the transport on `dispose()`, so a dead connection's parser never sees
 *    bytes again and is garbage collected.
 */
export class FirmataLink extends EventEmitter implements FirmataTransport {
  inFlight = 0;
  private disposed = false;
  private idle: (() => void)[] = [];
  private batching = false;
  private batch: Buffer[] = [];
  private batchCallbacks: ((err?: Error | null) => void)[] = [];
  private readonly onData = (chunk: Buffer) => {
    this.onChunk(chunk);
    try {
      this.emit('data', chunk);
    } catch (e) {
      // firmata.js trusts the board: e.g. a pin-state reply for a pin it does not know throws a
      // TypeError out of its parser. Never let line noise crash the agent; its parser state is
      // now suspect, so the connection is dropped and made again.
      if (!this.disposed) this.onLost(new HashflexError(`firmata.js rejected input: ${(e as Error).message}`, ErrorCode.FrameInvalid));
    }
  };
  private readonly onClose = (err?: HashflexError) => {
    if (!this.disposed) this.onLost(err);
  };

  constructor(
    readonly transport: ByteTransport,
    private readonly onChunk: (chunk: Buffer) => void,
    private readonly onLost: (err?: HashflexError) => void,
  ) {
    super();
    transport.on('data', this.onData);
    transport.on('close', this.onClose);
  }

  /** firmata.js's board emits 'connect' on the transport's 'open'; ours is open already */
  announceOpen(): void {
    this.emit('open');
  }

  /**
   * The first write of a synchronous run goes to the transport at once; the writes that follow
   * in the same run (the trip path's setEnable for every other board) are joined and handed over
   * as one write from a microtask, before any timer or I/O callback can run. Over a serial port
   * that is two thread-pool round trips instead of one per board.
   */
  write(data: Buffer, callback?: (err?: Error | null) => void): boolean {
    if (this.disposed || !this.transport.isOpen) {
      callback?.();
      return false;
    }
    this.inFlight++;
    const callbacks = callback ? [callback] : [];
    if (!this.batching) {
      this.batching = true;
      queueMicrotask(this.flush);
      this.send(data, 1, callbacks);
    } else {
      this.batch.push(data);
      this.batchCallbacks.push(...callbacks);
    }
    return true;
  }

  private readonly flush = () => {
    this.batching = false;
    if (this.batch.length === 0) return;
    const bytes = this.batch.length === 1 ? this.batch[0] : Buffer.concat(this.batch);
    const n = this.batch.length;
    const callbacks = this.batchCallbacks;
    this.batch = [];
    this.batchCallbacks = [];
    if (this.disposed) this.settle(n, callbacks);
    else this.send(bytes, n, callbacks);
  };

  private send(bytes: Buffer, n: number, callbacks: ((err?: Error | null) => void)[]): void {
    this.transport.write(bytes).then(
      () => this.settle(n, callbacks),
      (err: Error) => {
        this.settle(n, callbacks);
        if (!this.disposed) this.onLost(err as HashflexError);
      },
    );
  }

  /** resolves once every write so far has been handed to the OS (or failed) */
  whenWritten(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.transport.off('data', this.onData);
    this.transport.off('close', this.onClose);
    this.removeAllListeners();
  }

  private settle(n: number, callbacks: ((err?: Error | null) => void)[]): void {
    this.inFlight -= n;
    // firmata.js only decrements a counter in its callback; the driver handles loss itself
    for (const cb of callbacks) cb();
    if (this.inFlight === 0) for (const f of this.idle.splice(0)) f();
  }
}
