import { Worker } from 'node:worker_threads';

/**
 * SQLite checkpoints (copying the WAL back into the database file, with two fsyncs) run in the
 * connection that commits, i.e. on the agent's event loop, every ~1000 WAL pages. In the
 * journal's 'async' mode that would be the last place a trip signal could wait behind the disk,
 * so the journal turns autocheckpoint off and asks this worker thread, which holds its own
 * connection to the same file, for a PASSIVE checkpoint instead (WAL mode lets a checkpoint run
 * beside a writer; see sqlite.org/wal.html, "Checkpointing").
 *
 * The worker is plain JavaScript evaluated from a string, so it needs no TypeScript loader.
 */
const SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
let db;
try {
  db = new Database(workerData.file);
} catch (e) {
  parentPort.postMessage({ ok: false, error: String(e && e.message || e) });
}
parentPort.on('message', (m) => {
  if (m === 'close') {
    if (db) db.close();
    const closed = new Int32Array(workerData.closed);
    Atomics.store(closed, 0, 1);
    Atomics.notify(closed, 0);
    parentPort.close();
    return;
  }
  if (!db) return parentPort.postMessage({ ok: false, error: 'no database' });
  try {
    const r = db.pragma('wal_checkpoint(PASSIVE)')[0];
    parentPort.postMessage({ ok: true, log: r.log, checkpointed: r.checkpointed });
  } catch (e) {
    parentPort.postMessage({ ok: false, error: String(e && e.message || e) });
  }
});
`;

export class Checkpointer {
  private readonly worker: Worker;
  private busy = false;
  private dead = false;
  /** set to 1 by the worker once its connection is closed */
  private readonly closed = new Int32Array(new SharedArrayBuffer(4));
  done = 0;

  /** `onFail` is called once if the worker cannot do its job; the journal then checkpoints itself */
  constructor(file: string, private readonly onFail: (error: string) => void) {
    this.worker = new Worker(SOURCE, { eval: true, workerData: { file, module: require.resolve('better-sqlite3'), closed: this.closed.buffer } });
    this.worker.unref();
    this.worker.on('message', (m: { ok: boolean; error?: string }) => {
      this.busy = false;
      if (m.ok) this.done++;
      else this.fail(m.error ?? 'checkpoint failed');
    });
    this.worker.on('error', (e) => this.fail(e.message));
    this.worker.on('exit', () => { if (!this.dead) this.fail('checkpoint worker exited'); });
  }

  /** start a checkpoint unless one is running; false when the worker is gone */
  request(): boolean {
    if (this.dead) return false;
    if (!this.busy) {
      this.busy = true;
      this.worker.postMessage('checkpoint');
    }
    return true;
  }

  /**
   * Close the worker's connection and wait for it (at most 2 s, shutdown only), so the journal's
   * own close is the last one: SQLite's last connection removes the -wal/-shm files, and that
   * must not happen behind the caller's back (e.g. while it removes the directory).
   */
  close(): void {
    if (this.dead) return;
    this.dead = true;
    this.worker.postMessage('close');
    Atomics.wait(this.closed, 0, 0, 2000);
  }

  private fail(error: string): void {
    if (this.dead) return;
    this.dead = true;
    void this.worker.terminate();
    this.onFail(error);
  }
}
