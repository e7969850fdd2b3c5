import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { ErrorCode, HashflexError } from '../errors';
import { logger } from '../log';
import { Checkpointer } from './checkpointer';
import { SeqFloor } from './seqfloor';

/**
 * Store-and-forward journal (DESIGN.md §4): every telemetry and event frame is written here
 * before it is sent and deleted only when the controller's `received` covers it.
 *
 * Why SQLite (better-sqlite3 12) rather than our own append-only file: deleting an acknowledged
 * prefix, dropping the oldest *telemetry* while keeping events, and surviving a torn write are
 * all things SQLite's WAL already does correctly and has been tested for; an own file format
 * would need compaction, checksums and recovery code that we would have to prove. Each append
 * is one transaction.
 *
 * Durability modes (`sync`):
 *  - 'async' (default): the commit is written to the WAL without an fsync (synchronous=NORMAL),
 *    then the WAL file is fsync'd on libuv's thread pool; `durableSeq` advances and 'durable'
 *    is emitted when that fsync completes, and the uplink sends nothing beyond `durableSeq`.
 *    Same guarantee as 'full' (on disk before it is sent) without an fsync per frame on the
 *    event loop, where it would delay a trip signal behind a slow SD card. fsyncs coalesce: one
 *    in flight, one queued, whatever the append rate (group commit).
 *  - 'full': synchronous=FULL, an fsync inside every append() on the main thread.
 *  - 'normal': no fsync per frame; survives a crash of the agent but not a power cut.
 * What is left on the event loop is SQLite's checkpoint (two fsyncs every ~1000 WAL pages, about
 * every 4 minutes at 1 Hz telemetry). `checkpoint: 'worker'` moves it to a worker thread
 * (checkpointer.ts) at the price of ~10 MB RSS for the thread's V8 isolate, which is why it is
 * not the default: it is for boards whose storage has slow fsyncs (see the bench figures).
 *
 * `seq` lives in an AUTOINCREMENT column: SQLite's sqlite_sequence table remembers the largest
 * seq ever used even after every row is deleted, so seq stays strictly increasing across restarts.
 * A journal.db that SQLite finds corrupt is set aside (journal.db.corrupt-TIMESTAMP) and a new one
 * started, so a bad SD card sector never stops the agent; seq then continues above the
 * reservation in seq.reserved (seqfloor.ts).
 */

export type FrameKind = 'telemetry' | 'event';
export type JournalSync = 'async' | 'full' | 'normal';

export interface JournalOptions {
  /** directory for journal.db (created if missing); storage.dir in the config */
  dir: string;
  /** bound on the stored frames' text (bytes); the oldest telemetry is dropped beyond it. Default 64 MiB */
  maxBytes?: number;
  /** see the header: 'async' (default), 'full' or 'normal' */
  sync?: JournalSync;
  /** where SQLite checkpoints run: 'inline' (default, SQLite's autocheckpoint) or 'worker' */
  checkpoint?: 'inline' | 'worker';
}

export interface JournalRow {
  seq: number;
  text: string;
}

export interface JournalStats {
  /** frames waiting for `received` */
  frames: number;
  bytes: number;
  lastSeq: number;
  /** telemetry frames dropped because the journal was full, since it was created */
  dropped: number;
  appended: number;
  acked: number;
  /** highest seq known to be on disk */
  durableSeq: number;
  /** background fsyncs that failed (the frames are sent anyway: the link outranks the disk) */
  syncErrors: number;
  /** checkpoints done by the worker thread */
  checkpoints: number;
}

const KIND = { telemetry: 0, event: 1 } as const;
export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;
/** SQLite's default autocheckpoint threshold (pages), used when checkpoints are not off-loaded */
const AUTOCHECKPOINT_PAGES = 1000;
/** commits between off-loaded checkpoints: an append writes about 2 WAL pages, so ~500 pages */
const COMMITS_PER_CHECKPOINT = 256;

/** Events: 'durable' (seq) in 'async' mode, when everything up to seq is on disk. */
export class Journal extends EventEmitter {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private readonly selectAfter: Database.Statement;
  private readonly deleteUpTo: Database.Statement;
  private readonly dropOldest: Database.Statement;
  private readonly setMeta: Database.Statement;
  private readonly maxBytes: number;
  private last: number;
  private bytesNow: number;
  private framesNow: number;
  private droppedTotal: number;
  private appendedCount = 0;
  private ackedCount = 0;
  private readonly mode: JournalSync;
  private readonly walFile: string;
  private walFd?: number;
  private durable: number;
  private syncing = false;
  private syncWanted = 0;
  private syncErrors = 0;
  private closing = false;
  private checkpointer?: Checkpointer;
  private readonly floor: SeqFloor;
  /** where a corrupt journal was moved at open, if it was */
  readonly setAside?: string;
  private commitsSinceCheckpoint = 0;
  private readonly log = logger('journal');

  static open(opts: JournalOptions): Journal {
    return new Journal(opts);
  }

  constructor(opts: JournalOptions) {
    super();
    this.maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
    this.mode = opts.sync ?? 'async';
    const file = path.join(opts.dir, 'journal.db');
    this.walFile = `${file}-wal`;
    let db: Database.Database;
    try {
      fs.mkdirSync(opts.dir, { recursive: true });
      try {
        db = this.openDb(file);
      } catch (e) {
        if (!/^SQLITE_(NOTADB|CORRUPT)/.test((e as { code?: string }).code ?? '')) throw e;
        this.setAside = `${file}.corrupt-${Date.now()}`;
        for (const ext of ['', '-wal', '-shm']) if (fs.existsSync(file + ext)) fs.renameSync(file + ext, this.setAside + ext);
        this.log.error({ err: e, movedTo: this.setAside }, 'journal was corrupt: set aside, starting a new one');
        db = this.openDb(file);
      }
    } catch (e) {
      throw new HashflexError(`journal: cannot open ${file}: ${(e as Error).message}`, ErrorCode.ConfigInvalid, {}, { cause: e });
    }
    this.db = db;
    this.insert = this.db.prepare('INSERT INTO frames (seq, kind, text) VALUES (?, ?, ?)');
    this.selectAfter = this.db.prepare('SELECT seq, text FROM frames WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?');
    this.deleteUpTo = this.db.prepare('DELETE FROM frames WHERE seq <= ? RETURNING length(text) AS n');
    this.dropOldest = this.db.prepare(
      'DELETE FROM frames WHERE seq IN (SELECT seq FROM frames WHERE kind = 0 ORDER BY seq LIMIT ?) RETURNING length(text) AS n',
    );
    this.setMeta = this.db.prepare('INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v');
    const seqRow = this.db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'frames'").get() as { seq: number } | undefined;
    const agg = this.db.prepare('SELECT count(*) AS c, coalesce(sum(length(text)), 0) AS b, coalesce(max(seq), 0) AS m FROM frames').get() as {
      c: number; b: number; m: number;
    };
    this.floor = new SeqFloor(path.join(opts.dir, 'seq.reserved'));
    // SQLite's counter is the truth; the reservation only stands in when that counter is gone
    this.last = seqRow ? Math.max(seqRow.seq, agg.m) : Math.max(agg.m, this.floor.value);
    this.floor.ensureSync(this.last);
    this.framesNow = agg.c;
    this.bytesNow = agg.b;
    const d = this.db.prepare("SELECT v FROM meta WHERE k = 'dropped'").get() as { v: number } | undefined;
    this.droppedTotal = d?.v ?? 0;
    // what a previous run left is as durable as it will get (and is made so here, once)
    if (this.mode === 'async' && fs.existsSync(this.walFile)) {
      this.walFd = fs.openSync(this.walFile, 'r');
      fs.fsyncSync(this.walFd);
    }
    this.durable = this.last;
    if (opts.checkpoint === 'worker') {
      this.db.pragma('wal_autocheckpoint = 0');
      this.checkpointer = new Checkpointer(file, (error) => {
        this.log.warn({ error }, 'checkpoint worker failed: checkpointing on the main thread again');
        this.checkpointer = undefined;
        if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
      });
    }
  }

  /** highest seq known to be on disk; the uplink sends nothing beyond it */
  get durableSeq(): number {
    return this.durable;
  }

  private openDb(file: string): Database.Database {
    const db = new Database(file);
    try {
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${this.mode === 'full' ? 'FULL' : 'NORMAL'}`);
      db.exec(`
        CREATE TABLE IF NOT EXISTS frames (
          seq  INTEGER PRIMARY KEY AUTOINCREMENT,
          kind INTEGER NOT NULL,
          text TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);
      `);
      db.prepare('SELECT count(*) FROM frames').get();
      return db;
    } catch (e) {
      db.close();
      throw e;
    }
  }

  /** the last seq ever assigned (0 for a new journal) */
  get lastSeq(): number {
    return this.last;
  }

  /**
   * Assign the next seq, let `build` render the frame with it, and store the frame durably.
   * Returns once the frame is on disk. Drops the oldest telemetry if the bound is exceeded.
   */
  append(kind: FrameKind, build: (seq: number) => string): JournalRow {
    const seq = this.last + 1;
    const text = build(seq);
    this.insert.run(seq, KIND[kind], text);
    this.last = seq;
    this.floor.advance(seq, (e) => this.log.error({ err: e }, 'cannot move the seq reservation'));
    this.framesNow++;
    // SQLite's length() counts characters; frames are ASCII JSON in practice, so chars ~ bytes
    this.bytesNow += text.length;
    this.appendedCount++;
    if (this.bytesNow > this.maxBytes) this.trim();
    if (this.mode === 'async') this.syncUpTo(seq);
    else this.durable = seq;
    this.committed();
    return { seq, text };
  }

  /** stored frames with `after` < seq <= `upTo` (default: durableSeq), in seq order, at most `limit` */
  after(after: number, limit = 256, upTo = this.durable): JournalRow[] {
    return this.selectAfter.all(after, upTo, limit) as JournalRow[];
  }

  /** the controller stored everything up to `seq`: forget it. Returns how many frames went. */
  ack(seq: number): number {
    const rows = this.deleteUpTo.all(Math.min(seq, this.last)) as Array<{ n: number }>;
    for (const r of rows) this.bytesNow -= r.n;
    this.framesNow -= rows.length;
    this.ackedCount += rows.length;
    if (rows.length > 0) this.committed();
    return rows.length;
  }

  stats(): JournalStats {
    return {
      frames: this.framesNow,
      bytes: this.bytesNow,
      lastSeq: this.last,
      dropped: this.droppedTotal,
      appended: this.appendedCount,
      acked: this.ackedCount,
      durableSeq: this.durable,
      syncErrors: this.syncErrors,
      checkpoints: this.checkpointer?.done ?? 0,
    };
  }

  close(): void {
    this.closing = true;
    this.checkpointer?.close();
    if (this.db.open) this.db.close();
    if (!this.syncing) this.closeWal();
  }

  private committed(): void {
    if (!this.checkpointer || ++this.commitsSinceCheckpoint < COMMITS_PER_CHECKPOINT) return;
    this.commitsSinceCheckpoint = 0;
    this.checkpointer.request();
  }

  private closeWal(): void {
    if (this.walFd === undefined) return;
    fs.closeSync(this.walFd);
    this.walFd = undefined;
  }

  /** background fsync of the WAL covering everything appended so far; one in flight at a time */
  private syncUpTo(seq: number): void {
    this.syncWanted = seq;
    if (this.syncing) return;
    if (this.walFd === undefined) this.walFd = fs.openSync(this.walFile, 'r');
    const upTo = seq;
    this.syncing = true;
    fs.fsync(this.walFd, (err) => {
      this.syncing = false;
      if (this.closing) {
        this.closeWal();
        return;
      }
      if (err) {
        this.syncErrors++;
        this.log.error({ err }, 'journal fsync failed');
      }
      if (upTo > this.durable) {
        this.durable = upTo;
        this.emit('durable', upTo);
      }
      if (this.syncWanted > upTo) this.syncUpTo(this.syncWanted);
    });
  }

  /**
   * Over the bound: delete the oldest telemetry (never events) in small batches until under it.
   * If only events are left the journal stays over its bound: losing a trip record is worse.
   */
  private trim(): void {
    const tx = this.db.transaction(() => {
      let dropped = 0;
      while (this.bytesNow > this.maxBytes) {
        const rows = this.dropOldest.all(64) as Array<{ n: number }>;
        if (rows.length === 0) break;
        for (const r of rows) this.bytesNow -= r.n;
        this.framesNow -= rows.length;
        dropped += rows.length;
      }
      if (dropped > 0) {
        this.droppedTotal += dropped;
        this.setMeta.run('dropped', this.droppedTotal);
      }
      return dropped;
    });
    const dropped = tx();
    if (dropped > 0) this.log.warn({ dropped, total: this.droppedTotal }, 'journal full: dropped oldest telemetry');
  }
}
