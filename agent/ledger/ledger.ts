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
/**
 * the wall clock moving this much more (or less) than the monotonic clock between two readings
 * is a step (NTP, `date -s`, an RTC restored), not drift: declared in the record (`clock_step_ms`)
 */
export const CLOCK_STEP_TOLERANCE_MS = 1000;
const iso = (ms: number) => new Date(ms).toISOString();

export type NoteKind = 'trip' | 'command' | 'release';

/**
 * Move a ledger signed by another key to `ledger.KEYID.jsonl`, or `ledger.KEYID.N.jsonl` (N = 2,
 * 3…) when that name is taken: a key that comes back (A → B → A → B) starts a second chain of
 * its own, and its first one must survive. A hard link never replaces an existing name, so no
 * earlier chain is overwritten even by two starts at once; a crash between link and unlink
 * leaves one file under both names, found again here. Filesystems without hard links get a
 * checked rename. The key id comes from the file (not yet verified), so it is used in the name
 * only if it looks like one.
 */
export function moveAside(file: string, dir: string, keyId: unknown): string {
  const id = typeof keyId === 'string' && /^[0-9a-f]{16}$/.test(keyId) ? keyId : 'unknown-key';
  for (let n = 1; ; n++) {
    const aside = path.join(dir, n === 1 ? `ledger.${id}.jsonl` : `ledger.${id}.${n}.jsonl`);
    try {
      fs.linkSync(file, aside);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') {
        const [x, y] = [fs.statSync(file), fs.statSync(aside)];
        // not our own link from a start that crashed between link and unlink: an earlier chain
        if (x.ino !== y.ino || x.dev !== y.dev) continue;
      } else {
        if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw e;
        if (fs.existsSync(aside)) continue;
        fs.renameSync(file, aside);
        return aside;
      }
    }
    fs.unlinkSync(file);
    return aside;
  }
}

/**
 * The surplus ledger: one signed, hash-chained record per interval, appended to
 * `dir/ledger.jsonl`. Feed it every meter sample (`sample`), the miners' power (`miners`) and
 * trips and commands (`note`). Events: 'record' (LedgerRecord) once a record is durably on
 * disk; 'fault' (Error) when a write fails (the record is kept and retried at the next one).
 *
 * Two clocks: interval boundaries and every label are wall time (records end on multiples of
 * the interval, UTC), but energy is integrated on the monotonic clock, so a wall-clock step
 * never stretches or shrinks the time energy is counted over. Every (wall, monotonic) pair the
 * ledger sees (samples, miner readings, its own timer) is checked: when wall − monotonic moves
 * by more than CLOCK_STEP_TOLERANCE_MS the clock stepped, and each record the step touches says
 * so in `clock_step_ms` (its wall length minus the real time in it), with a `clock-step` event
 * in the record open when it happened.
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
  /** wall − monotonic at the latest reading */
  private offset = 0;
  /** the latest monotonic reading; older pairs (stale samples) are not compared */
  private lastMono = -Infinity;
  /** the monotonic point of the latest clock step: no interval ends before it */
  private stepFloor = -Infinity;
  /** the open interval's start on the monotonic clock */
  private monoStart = 0;
  /** the open interval has a clock step in it (or starts at one) */
  private touched = false;
  readonly stats = { records: 0, writeErrors: 0, clockSteps: 0 };

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
      const aside = moveAside(this.file, this.opts.dir, lastKey);
      log.warn({ aside, key: key.keyId, old: lastKey }, 'ledger key changed: previous ledger moved aside, new chain started');
      opened = await LedgerFile.open(this.file);
    }
    this.store = opened.file;
    const last = opened.last?.record;
    const wall = this.clock.now();
    const mono = this.clock.monotonic();
    this.offset = wall - mono;
    this.lastMono = mono;
    // never start before the last record ended (a clock stepped back): records must not overlap
    const lastEndMs = last ? Date.parse(last.end) : Number.NaN;
    const now = Number.isFinite(lastEndMs) ? Math.max(wall, lastEndMs) : wall;
    this.start0 = now;
    this.end = this.boundaryAfter(now);
    this.monoStart = mono;
    // a clock behind the last record's end: the first record's label runs ahead of real time
    this.touched = now - wall > CLOCK_STEP_TOLERANCE_MS;
    this.book = new IntervalBook(mono, this.opts.holdMs ?? 5000, this.opts.maxEvents ?? 200, iso);
    if (last) {
      this.seq = last.seq + 1;
      this.prev = last.hash;
      this.pendingGap = { from: last.end, to: iso(now), reason: 'restart', import_kwh: null, export_kwh: null, lastEnd: last.counters?.end ?? null };
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

  /** a meter sample; `mono` (MeterSample's monotonic stamp) is what its energy is timed by */
  sample(s: SampleInput): void {
    if (!this.book || this.stopped || !Number.isFinite(s.at) || !Number.isFinite(s.kw)) return;
    const mono = this.monoOf(s.at, s.mono);
    if (this.observe(s.at, mono)) this.roll(s.at);
    this.book.sample({ ...s, mono });
  }

  /** the miners' power (kW) from wall time `at` (monotonic `mono`) on */
  miners(at: number, kw: number, mono?: number): void {
    if (!this.book || this.stopped || !Number.isFinite(at)) return;
    const m = this.monoOf(at, mono);
    if (this.observe(at, m)) this.roll(at);
    this.book.miners(m, kw);
  }

  note(kind: NoteKind, detail: object = {}): void {
    if (!this.book || this.stopped) return;
    const now = this.clock.now();
    if (this.observe(now, this.clock.monotonic())) this.roll(now);
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
    if (this.observe(now, this.clock.monotonic())) this.roll(now);
    // a stop right on a boundary with a sample already in the new interval still records it (1 ms long)
    if (now > this.start0) this.close(now, this.lastMono);
    else if (!this.book.empty) this.close(this.start0 + 1, this.lastMono);
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
      const now = this.clock.now();
      if (this.observe(now, this.clock.monotonic())) this.roll(now);
      if (!this.stopped) this.schedule();
    }, Math.max(0, this.end - this.clock.now()));
  }

  /** the monotonic time of wall time `at`: the caller's stamp, or derived from the clock's present offset */
  private monoOf(at: number, mono?: number): number {
    return typeof mono === 'number' && Number.isFinite(mono) ? mono : at - (this.clock.now() - this.clock.monotonic());
  }

  /**
   * Take one (wall, monotonic) reading: a step of wall − monotonic beyond the tolerance is a
   * clock step. Returns false for a reading older than one already taken (it is not compared,
   * and must not move interval boundaries).
   */
  private observe(wall: number, mono: number): boolean {
    if (!(mono >= this.lastMono)) return false;
    const offset = wall - mono;
    if (Math.abs(offset - this.offset) > CLOCK_STEP_TOLERANCE_MS) this.stepped(offset);
    this.offset = offset; // drift within the tolerance (NTP slewing) is followed
    this.lastMono = mono;
    return true;
  }

  /**
   * The wall clock stepped somewhere after the last reading; place the step there. Energy so far
   * stays in the open record; a forward step across interval boundaries closes the intervals it
   * skipped with no real time in them (roll, held at the step by stepFloor), each declaring it;
   * a step further than CLOCK_JUMP_INTERVALS is one declared `clock-jump` gap instead; a step
   * back leaves the open record open (records never overlap) until the wall clock reaches its
   * end, holding the extra real time.
   */
  private stepped(offset: number): void {
    const book = this.book!;
    const at = this.lastMono;
    const before = at + this.offset;
    const after = at + offset;
    const stepMs = Math.round(offset - this.offset);
    this.stats.clockSteps++;
    log.warn({ step_ms: stepMs, from: iso(before), to: iso(after) }, 'wall clock stepped: declared in the ledger record');
    book.advance(at);
    book.event(before, 'clock-step', { step_ms: stepMs, to: iso(after) });
    this.touched = true;
    this.stepFloor = at;
    if (after >= this.end + CLOCK_JUMP_INTERVALS * this.intervalMs) {
      // far ahead (a board without an RTC gets NTP time late): declare the skipped time as a gap
      // instead of filling it with thousands of empty records; the record ends at the last
      // moment known from before the step
      const endAt = Math.max(this.start0 + 1, Math.min(this.end, before));
      this.close(endAt, at);
      const to = Math.floor(after / this.intervalMs) * this.intervalMs;
      log.warn({ from: iso(endAt), to: iso(to) }, 'clock jumped ahead: declared as a ledger gap');
      // the meter's registers run on through a clock step: the next record counts from them as usual
      this.pendingGap = { from: iso(endAt), to: iso(to), reason: 'clock-jump', import_kwh: null, export_kwh: null, lastEnd: null };
      this.start0 = to;
      this.end = to + this.intervalMs;
      this.touched = after > to;
    }
  }

  /** close every interval that ended at or before wall time t */
  private roll(t: number): void {
    while (t >= this.end) this.close(this.end);
  }

  /**
   * Close the open interval at wall time `end`, at monotonic `monoAt` (default: `end` on the
   * present offset, never before the latest clock step).
   */
  private close(end: number, monoAt?: number): void {
    const book = this.book!;
    const mapped = end - this.offset;
    // a boundary the clock stepped over: the intervals up to it end at the step, with no real time after it
    const held = monoAt === undefined && mapped < this.stepFloor;
    const totals = book.close(Math.max(monoAt ?? (held ? this.stepFloor : mapped), this.monoStart));
    const realMs = book.lastTime - this.monoStart;
    const stepMs = Math.round(end - this.start0 - realMs);
    const declare = (this.touched && stepMs !== 0) || Math.abs(stepMs) > CLOCK_STEP_TOLERANCE_MS;
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
      start: iso(this.start0),
      end: iso(end),
      meter: this.meterId,
      ...rest,
      ...(events_dropped ? { events_dropped } : {}),
      ...(declare ? { clock_step_ms: stepMs } : {}),
      ...(gap ? { gap } : {}),
      key: this.key!.keyId,
      prev: this.prev,
    };
    const sealed = sealRecord(body, this.key!.privateKey);
    this.seq++;
    this.prev = sealed.record.hash;
    this.start0 = end;
    this.end = this.boundaryAfter(end);
    this.monoStart = book.lastTime;
    this.touched = held;
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
