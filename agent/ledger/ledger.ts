import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import type { KeyObject } from 'node:crypto';
import type { Clock, Timer } from '../clock';
import { logger } from '../log';
import { IntervalBook, type SampleInput } from './interval';
import { loadOrCreateKey, type BoardKey } from './keys';
import { GENESIS, LEDGER_VERSION, kwh, sealRecord, type LedgerGap, type LedgerRecord, type RecordBody } from './record';
import { LEDGER_FILE, LedgerFile } from './store';

const log = logger('ledger');

export interface LedgerOptions {
  /** storage.dir: holds ledger.jsonl and ledger.key */
  dir: string;
  /** record length (ms), default 60 000; records end on multiples of it since the epoch (UTC) */
  intervalMs?: number;
  /** the grid meter's identity (model, address, serial); a change is recorded as a replacement */
  meterId: string;
  /** agent.id, stamped into records */
  agentId?: string;
  /** longest a meter power reading is held when integrating (ms), default 5 000 */
  holdMs?: number;
  /** events kept per record before the rest are only counted, default 200 */
  maxEvents?: number;
}

/** a forward clock step longer than this many intervals is a declared gap, not empty records */
const CLOCK_JUMP_INTERVALS = 10;

export type NoteKind = 'trip' | 'command' | 'release';

/**
 * The surplus ledger: one signed, hash-chained record per interval, appended to
 * `dir/ledger.jsonl`. Feed it every meter sample (`sample`), the miners' power (`miners`) and
 * trips and commands (`note`). Events: 'record' (LedgerRecord) once a record is durably on
 * disk; 'fault' (Error) when a write fails (the record is kept and retried at the next one).
 */
export class Ledger extends EventEmitter {
  readonly intervalMs: number;
  readonly file: string;
  private key?: BoardKey;
  private store?: LedgerFile;
  private book?: IntervalBook;
  private start0 = 0;
  private end = 0;
  private seq = 0;
  private prev = GENESIS;
  private meterId: string;
  private timer?: Timer;
  private pendingGap?: LedgerGap & { lastEnd: { import_kwh: number; export_kwh: number } | null };
  private readonly unwritten: { line: string; record: LedgerRecord }[] = [];
  private draining?: Promise<void>;
  private stopped = false;
  readonly stats = { records: 0, writeErrors: 0 };

  constructor(private readonly opts: LedgerOptions, private readonly clock: Clock) {
    super();
    this.intervalMs = Math.max(1000, opts.intervalMs ?? 60_000);
    this.meterId = opts.meterId;
    this.file = path.join(opts.dir, LEDGER_FILE);
  }

  get publicKey(): KeyObject {
    if (!this.key) throw new Error('ledger not started');
    return this.key.publicKey;
  }

  get keyId(): string {
    return this.key?.keyId ?? '';
  }

  /** load or make the key, open and repair the file, and start the first interval now */
  async start(): Promise<void> {
    const key = loadOrCreateKey(this.opts.dir);
    if (key.created) log.info({ file: key.file, key: key.keyId }, 'ledger key created');
    if (key.loosened) log.warn({ file: key.file }, 'ledger key was readable by others; narrowed to 0600');
    this.key = key;
    let opened = await LedgerFile.open(this.file);
    const lastKey = opened.last?.record.key;
    if (opened.last && lastKey !== key.keyId) {
      // a new board key cannot extend a chain signed by another: keep the old file whole, start anew
      await opened.file.close();
      const aside = path.join(this.opts.dir, `ledger.${lastKey}.jsonl`);
      fs.renameSync(this.file, aside);
      log.warn({ aside, key: key.keyId, old: lastKey }, 'ledger key changed: previous ledger moved aside, new chain started');
      opened = await LedgerFile.open(this.file);
    }
    this.store = opened.file;
    const last = opened.last?.record;
    // never start before the last record ended (a clock stepped back): records must not overlap
    const lastEndMs = last ? Date.parse(last.end) : Number.NaN;
    const now = Number.isFinite(lastEndMs) ? Math.max(this.clock.now(), lastEndMs) : this.clock.now();
    this.start0 = now;
    this.end = this.boundaryAfter(now);
    this.book = new IntervalBook(now, this.opts.holdMs ?? 5000, this.opts.maxEvents ?? 200, (ms) => new Date(ms).toISOString());
    if (last) {
      this.seq = last.seq + 1;
      this.prev = last.hash;
      this.pendingGap = { from: last.end, to: new Date(now).toISOString(), reason: 'restart', import_kwh: null, export_kwh: null, lastEnd: last.counters?.end ?? null };
      if (last.meter !== this.meterId) {
        this.book.meterChanged(now, last.meter, this.meterId);
        this.pendingGap.lastEnd = null;
      }
    }
    if (opened.tornBytes) {
      this.book.event(now, 'torn-tail', { bytes: opened.tornBytes, saved_to: path.basename(opened.tornFile!) });
      log.warn({ bytes: opened.tornBytes, file: opened.tornFile }, 'ledger ended in a torn line (crash mid-write); moved aside');
    }
    this.schedule();
  }

  sample(s: SampleInput): void {
    if (!this.book || this.stopped || !Number.isFinite(s.at) || !Number.isFinite(s.kw)) return;
    this.roll(s.at);
    this.book.sample(s);
  }

  miners(at: number, kw: number): void {
    if (!this.book || this.stopped || !Number.isFinite(at)) return;
    this.roll(at);
    this.book.miners(at, kw);
  }

  note(kind: NoteKind, detail: object = {}): void {
    if (!this.book || this.stopped) return;
    const now = this.clock.now();
    this.roll(now);
    let safe: Record<string, unknown>;
    try {
      safe = JSON.parse(JSON.stringify(detail)) as Record<string, unknown>;
    } catch {
      safe = { detail: String(detail) };
    }
    this.book.event(now, kind, safe);
  }

  /** the meter's identity as now read (e.g. its serial number after a reconnect) */
  meter(id: string): void {
    if (!this.book || this.stopped || id === this.meterId) return;
    this.book.meterChanged(this.clock.now(), this.meterId, id);
    this.meterId = id;
  }

  /** resolves when every record closed so far is on disk (or failed to get there) */
  async flush(): Promise<void> {
    while (this.draining) await this.draining;
  }

  /** close the running interval as a short record, write everything, close the file */
  async stop(): Promise<void> {
    if (this.stopped || !this.book) return;
    this.timer?.cancel();
    const now = this.clock.now();
    // a stop right on a boundary with a sample already in the new interval still records it (1 ms long)
    if (now > this.start0) this.close(now);
    else if (!this.book.empty) this.close(this.start0 + 1);
    this.stopped = true;
    await this.flush();
    if (this.unwritten.length) this.drain();
    await this.flush();
    await this.store?.close();
  }

  private boundaryAfter(t: number): number {
    return (Math.floor(t / this.intervalMs) + 1) * this.intervalMs;
  }

  private schedule(): void {
    this.timer?.cancel();
    this.timer = this.clock.setTimeout(() => {
      this.roll(this.clock.now());
      if (!this.stopped) this.schedule();
    }, Math.max(0, this.end - this.clock.now()));
  }

  /** close every interval that ended at or before t */
  private roll(t: number): void {
    if (t >= this.end + CLOCK_JUMP_INTERVALS * this.intervalMs) {
      // the clock stepped far ahead (a board without an RTC gets NTP time late): declare the
      // skipped time as a gap instead of filling it with thousands of empty records
      // the record ends at the last moment known from before the step
      this.close(Math.max(this.start0 + 1, Math.min(this.end, this.book!.lastTime)));
      const to = Math.floor(t / this.intervalMs) * this.intervalMs;
      log.warn({ from: new Date(this.start0).toISOString(), to: new Date(to).toISOString() }, 'clock jumped ahead: declared as a ledger gap');
      this.book!.skip(to);
      // the meter's registers run on through a clock step: the next record counts from them as usual
      this.pendingGap = { from: new Date(this.start0).toISOString(), to: new Date(to).toISOString(), reason: 'clock-jump', import_kwh: null, export_kwh: null, lastEnd: null };
      this.start0 = to;
      this.end = to + this.intervalMs;
    }
    while (t >= this.end) this.close(this.end);
  }

  private close(end: number): void {
    const book = this.book!;
    const totals = book.close(end);
    const { events_dropped, ...rest } = totals;
    let gap: LedgerGap | undefined;
    if (this.pendingGap) {
      const { lastEnd, ...g } = this.pendingGap;
      const first = book.firstReading?.reading;
      if (lastEnd && first) {
        if (first.import_kwh >= lastEnd.import_kwh && first.export_kwh >= lastEnd.export_kwh) {
          g.import_kwh = kwh(first.import_kwh - lastEnd.import_kwh);
          g.export_kwh = kwh(first.export_kwh - lastEnd.export_kwh);
        } else {
          rest.events.unshift({ at: g.to, kind: 'counter-reset', register: 'across-gap', from: lastEnd, to: first });
        }
      }
      gap = g;
      this.pendingGap = undefined;
    }
    const body: RecordBody = {
      v: LEDGER_VERSION,
      seq: this.seq,
      ...(this.opts.agentId ? { agent: this.opts.agentId } : {}),
      start: new Date(this.start0).toISOString(),
      end: new Date(end).toISOString(),
      meter: this.meterId,
      ...rest,
      ...(events_dropped ? { events_dropped } : {}),
      ...(gap ? { gap } : {}),
      key: this.key!.keyId,
      prev: this.prev,
    };
    const sealed = sealRecord(body, this.key!.privateKey);
    this.seq++;
    this.prev = sealed.record.hash;
    this.start0 = end;
    this.end = this.boundaryAfter(end);
    this.unwritten.push(sealed);
    this.drain();
  }

  /** write queued records in order; on failure keep them for the next attempt */
  private drain(): void {
    if (this.draining || !this.store) return;
    const store = this.store;
    this.draining = (async () => {
      while (this.unwritten.length) {
        const next = this.unwritten[0];
        try {
          await store.append(next.line);
        } catch (e) {
          this.stats.writeErrors++;
          log.error({ err: (e as Error).message, seq: next.record.seq }, 'ledger write failed; will retry');
          this.emit('fault', e);
          return;
        }
        this.unwritten.shift();
        this.stats.records++;
        this.emit('record', next.record);
      }
    })().finally(() => { this.draining = undefined; });
  }
}
