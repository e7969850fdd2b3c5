import { ErrorCode, HashflexError } from '../../../agent/errors';

/**
 * One request at a time to one miner. Canaan's API manual (§1): "The API needs to be executed by
 * single thread and does not support concurrency. You must wait for the API command finish in
 * order to start the next API communication." Every exchange with the miner goes through here.
 *
 * Order: trips first (after trips already waiting), then reads and writes in the order given.
 * A trip arriving while a READ is on the wire aborts that read (its socket is destroyed) and goes
 * at once. Waiting for the read would cost up to its whole reply, and a full `timeoutMs` when the
 * miner is slow; aborting costs nothing the miner would not spend anyway: its single API thread
 * finds our end gone at its next write and takes the next connection, which is already in its
 * accept queue (the same wait as behind our own read, never longer). A WRITE on the wire is not
 * aborted: the firmware may apply it whatever we do, and we must know whether it did; the trip
 * goes right after it. Writes still waiting when a trip arrives are dropped (rejected): a wake
 * queued before a stop must not undo it.
 */
export type JobKind = 'read' | 'write' | 'trip';

interface Job {
  kind: JobKind;
  what: string;
  run: (signal: AbortSignal) => Promise<unknown>;
  ctrl: AbortController;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export class RequestLane {
  private queue: Job[] = [];
  private current?: Job;
  private closed = false;

  constructor(private readonly name: string) {}

  /** the kind on the wire now, if any */
  get busy(): JobKind | undefined {
    return this.current?.kind;
  }

  get waiting(): number {
    return this.queue.length;
  }

  push<T>(kind: JobKind, what: string, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new HashflexError(`${this.name}: closed`, ErrorCode.DeviceUnresponsive));
    return new Promise<T>((resolve, reject) => {
      const job: Job = { kind, what, run, ctrl: new AbortController(), resolve: resolve as (v: unknown) => void, reject };
      if (kind === 'trip') {
        for (const w of this.queue.filter((j) => j.kind === 'write')) {
          w.reject(new HashflexError(`${this.name}: ${w.what} dropped: a stop came after it`, ErrorCode.DeviceFault));
        }
        this.queue = this.queue.filter((j) => j.kind !== 'write');
        let at = 0;
        while (at < this.queue.length && this.queue[at].kind === 'trip') at++;
        this.queue.splice(at, 0, job);
        if (this.current?.kind === 'read') this.current.ctrl.abort();
      } else {
        this.queue.push(job);
      }
      this.pump();
    });
  }

  /** reject everything waiting and abort what is on the wire */
  close(): void {
    this.closed = true;
    for (const j of this.queue) j.reject(new HashflexError(`${this.name}: ${j.what} not sent: closed`, ErrorCode.DeviceUnresponsive));
    this.queue = [];
    this.current?.ctrl.abort();
  }

  private pump(): void {
    if (this.current) return;
    const job = this.queue.shift();
    if (!job) return;
    this.current = job;
    let p: Promise<unknown>;
    try {
      p = job.run(job.ctrl.signal);
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(job.resolve, job.reject).finally(() => {
      this.current = undefined;
      this.pump();
    });
  }
}
