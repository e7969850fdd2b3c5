import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { ErrorCode, HashflexError } from '../errors';
import { logger } from '../log';
import { Checkpointer } from './checkpointer';
import { SeqFloor, SeqMark } from './seqfloor';

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
 *
 * A write that fails (SQLITE_FULL on a full SD card, an I/O error) never loses the frame on a
 * live link: the frame still gets its seq, is rendered again with `"journaled": false`, and is
 * held in memory (bounded by `memoryBytes`, oldest telemetry dropped first) where `after()`
 * serves it in seq order with the stored frames until a `received` covers it. The seq is spent
 * even though SQLite never saw it, and seq.unjournaled (SeqMark) is moved past it before the
 * frame can be sent, so no later frame, even after a restart, reuses it. The first failure
 * emits 'fault' (Error); the first write that works again emits 'recover' and moves the frames
 * held in memory into the journal, so they are durable from then on.
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
  /** bound on the frames held in memory while writes fail (bytes). Default 4 MiB */
  memoryBytes?: number;
}

interface HeldFrame {
  seq: number;
  kind: FrameKind;
  /** as sent: with "journaled": false */
  text: string;
  /** as it would have been stored, for the journal once writes work again */
  stored: string;
}

export interface JournalRow {
  seq: number;
  text: string;
  /** false: the journal could not store it; held in memory only until received */
  journaled?: boolean;
}

/** renders the frame for its seq; `journaled` false when it goes out from memory (the write failed) */
export type FrameBuilder = (seq: number, journaled: boolean) => string;

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
  /** writes (appends, or trims of old telemetry) that failed */
  writeErrors: number;
  /** true while appends fail: frames are held in memory, not on disk */
  failing: boolean;
  /** frames held in memory only (their write failed), waiting for `received`, and their size */
  memoryFrames: number;
  memoryBytes: number;
  /** frames that went out without being journaled, since this journal was opened */
  unjournaled: number;
  /** frames lost for good: dropped from memory over its bound before a `received` covered them */
  memoryDropped: number;
}

const KIND = { telemetry: 0, event: 1 } as const;
export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;
/** default bound on frames held in memory while writes fail: ~35 min of 1 Hz telemetry, or ~20,000 events */
export const DEFAULT_MEMORY_BYTES = 4 * 1024 * 1024;
/** SQLite's default autocheckpoint threshold (pages), used when checkpoints are not off-loaded */
const AUTOCHECKPOINT_PAGES = 1000;
/** commits between off-loaded checkpoints: an append writes about 2 WAL pages, so ~500 pages */
const COMMITS_PER_CHECKPOINT = 256;

/**
 * Events: 'durable' (seq) in 'async' mode, when everything up to seq is on disk (or, for a
 * frame the journal could not store, may be sent); 'fault' (Error) at the first failed write;
 * 'recover' () at the first write that works again.
 */
export class Journal extends EventEmitter {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private readonly insertOrIgnore: Database.Statement;
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
  /** the last seq 'durable' was emitted for */
  private announced = 0;
  private closing = false;
  private checkpointer?: Checkpointer;
  private readonly floor: SeqFloor;
  private readonly mark: SeqMark;
  private readonly memoryMax: number;
  /** frames whose write failed, in seq order */
  private held: HeldFrame[] = [];
  private heldBytes = 0;
  /** held seqs not yet passed by `durable` (async mode: waiting for the fsync of a frame before them) */
  private heldAhead: number[] = [];
  private failingNow = false;
  private writeErrorCount = 0;
  private unjournaledCount = 0;
  private memoryDroppedCount = 0;
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
    this.memoryMax = opts.memoryBytes ?? DEFAULT_MEMORY_BYTES;
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
    this.insertOrIgnore = this.db.prepare('INSERT OR IGNORE INTO frames (seq, kind, text) VALUES (?, ?, ?)');
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
    this.mark = new SeqMark(path.join(opts.dir, 'seq.unjournaled'));
    if (this.mark.errors) this.log.warn({ dir: opts.dir }, 'cannot make seq.unjournaled: a frame sent while the disk is full might share its seq with one after a restart');
    // SQLite's counter is the truth; the reservation only stands in when that counter is gone
    this.last = seqRow ? Math.max(seqRow.seq, agg.m) : Math.max(agg.m, this.floor.value);
    // seqs that went out from memory (their write failed) are never given out again
    this.last = Math.max(this.last, this.mark.value, this.mark.unreadable ? this.floor.value : 0);
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

  /** true while writes fail and frames are held in memory */
  get failing(): boolean {
    return this.failingNow;
  }

  /**
   * Assign the next seq, let `build` render the frame with it, and store the frame durably.
   * Returns once the frame is on disk. Drops the oldest telemetry if the bound is exceeded.
   * If the write fails the frame is not lost: it is rendered again for `journaled` false and
   * held in memory (`journaled: false` in the row); this never throws for a failed write.
   */
  append(kind: FrameKind, build: FrameBuilder): JournalRow {
    const seq = this.last + 1;
    const text = build(seq, true);
    try {
      this.insert.run(seq, KIND[kind], text);
    } catch (e) {
      return this.hold(seq, kind, text, build, e as Error);
    }
    this.last = seq;
    this.floor.advance(seq, (e) => this.log.error({ err: e }, 'cannot move the seq reservation'));
    this.framesNow++;
    // SQLite's length() counts characters; frames are ASCII JSON in practice, so chars ~ bytes
    this.bytesNow += text.length;
    this.appendedCount++;
    if (this.failingNow) {
      this.failingNow = false;
      this.log.info({ held: this.held.length }, 'journal writes again');
      this.emit('recover');
    }
    if (this.held.length) this.storeHeld();
    if (this.bytesNow > this.maxBytes) {
      try {
        this.trim();
      } catch (e) {
        // the frame is stored; only the old telemetry could not be dropped yet
        this.writeErrorCount++;
        this.log.error({ err: e }, 'journal over its bound and cannot drop old telemetry');
      }
    }
    if (this.mode === 'async') this.syncUpTo(seq);
    else this.durable = seq;
    this.committed();
    return { seq, text };
  }

  /** stored (and held) frames with `after` < seq <= `upTo` (default: durableSeq), in seq order, at most `limit` */
  after(after: number, limit = 256, upTo = this.durable): JournalRow[] {
    const rows = this.selectAfter.all(after, upTo, limit) as JournalRow[];
    if (this.held.length === 0) return rows;
    const mem: JournalRow[] = [];
    for (const h of this.held) {
      if (h.seq <= after) continue;
      if (h.seq > upTo || mem.length >= limit) break;
      mem.push({ seq: h.seq, text: h.text, journaled: false });
    }
    if (mem.length === 0) return rows;
    const stored = new Set(rows.map((r) => r.seq));
    return [...rows, ...mem.filter((m) => !stored.has(m.seq))].sort((a, b) => a.seq - b.seq).slice(0, limit);
  }

  /** the controller stored everything up to `seq`: forget it. Returns how many frames went. */
  ack(seq: number): number {
    let fromMemory = 0;
    while (this.held.length && this.held[0].seq <= seq) {
      this.heldBytes -= this.held.shift()!.text.length;
      fromMemory++;
    }
    this.ackedCount += fromMemory;
    const rows = this.deleteUpTo.all(Math.min(seq, this.last)) as Array<{ n: number }>;
    for (const r of rows) this.bytesNow -= r.n;
    this.framesNow -= rows.length;
    this.ackedCount += rows.length;
    if (rows.length > 0) this.committed();
    return rows.length + fromMemory;
  }

  /** the write of `seq` failed: spend the seq anyway, mark it, and hold the frame in memory */
  private hold(seq: number, kind: FrameKind, stored: string, build: FrameBuilder, err: Error): JournalRow {
    this.last = seq;
    this.floor.advance(seq, (e) => this.log.error({ err: e }, 'cannot move the seq reservation'));
    this.writeErrorCount++;
    this.unjournaledCount++;
    // before the frame can be sent: no later seq, even after a restart, may equal this one
    if (!this.mark.cover(seq)) this.log.error({ seq }, 'cannot write seq.unjournaled: after a restart this seq may be given out again');
    const text = build(seq, false);
    this.held.push({ seq, kind, text, stored });
    this.heldBytes += text.length;
    while (this.heldBytes > this.memoryMax && this.held.length > 1) this.dropHeld();
    // sendable once every frame before it is: at once, or when the fsync in flight completes
    if (this.durable === seq - 1) this.durable = seq;
    else this.heldAhead.push(seq);
    if (!this.failingNow) {
      this.failingNow = true;
      this.log.error({ err, seq }, 'journal write failed: frames are sent from memory, not durable, until writes work again');
      this.emit('fault', err);
    }
    return { seq, text, journaled: false };
  }

  /** over the memory bound: the oldest telemetry goes first, an event only when no telemetry is left */
  private dropHeld(): void {
    let i = this.held.findIndex((h) => h.kind === 'telemetry');
    if (i < 0) i = 0;
    const [h] = this.held.splice(i, 1);
    this.heldBytes -= h.text.length;
    this.memoryDroppedCount++;
    if (h.kind === 'event') this.log.error({ seq: h.seq }, 'journal failing and memory bound reached: an event frame was dropped');
  }

  /** writes work again: store the frames held in memory, so they are durable from now on */
  private storeHeld(): void {
    const held = this.held;
    try {
      // OR IGNORE: a commit whose fsync failed may have reached the file after all
      const stored = this.db.transaction(() => held.filter((h) => this.insertOrIgnore.run(h.seq, KIND[h.kind], h.stored).changes > 0))();
      this.held = [];
      this.heldBytes = 0;
      for (const h of stored) {
        this.framesNow++;
        this.bytesNow += h.stored.length;
      }
    } catch (e) {
      // still short of room for all of them: they stay in memory, served as before, and are tried again
      this.log.debug({ err: e, frames: held.length }, 'the frames held in memory do not fit in the journal yet');
    }
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
      writeErrors: this.writeErrorCount,
      failing: this.failingNow,
      memoryFrames: this.held.length,
      memoryBytes: this.heldBytes,
      unjournaled: this.unjournaledCount,
      memoryDropped: this.memoryDroppedCount,
    };
  }

  close(): void {
    if (this.held.length) this.log.warn({ frames: this.held.length }, 'journal closed with frames held in memory (never stored): they are lost');
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
      if (upTo > this.durable) this.durable = upTo;
      // frames held in memory right after it may go now too
      while (this.heldAhead.length && this.heldAhead[0] <= this.durable + 1) this.durable = Math.max(this.durable, this.heldAhead.shift()!);
      if (this.durable > this.announced) {
        this.announced = this.durable;
        this.emit('durable', this.durable);
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
