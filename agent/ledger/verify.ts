import fs from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { keyId } from './keys';
import { GENESIS, LEDGER_VERSION, hashOf, parseLine, signatureValid, type CounterReading, type EnergySource, type LedgerRecord, type ParsedLine } from './record';

/**
 * Checks a ledger file: every line a record, every hash and signature, seq 0, 1, 2… with each
 * `prev` the hash of the record before, intervals back to back (a break only where a record
 * declares it as a gap), counter readings that continue from one record to the next, and a
 * declared clock step (`clock_step_ms`) no longer than its record. The first failure is
 * reported with its line and seq; everything before it is intact.
 * A torn last line (no newline: a crash mid-write) is reported but is not a break.
 */
export interface LedgerTotals {
  records: number;
  first_seq: number | null;
  last_seq: number | null;
  from: string | null;
  to: string | null;
  sources: Record<EnergySource, number>;
  gaps: number;
  gap_s: number;
  /** register advance across declared gaps (energy while no ledger ran), where known */
  gap_import_kwh: number;
  gap_export_kwh: number;
  import_kwh: number;
  export_kwh: number;
  miner_kwh: number;
  miner_surplus_kwh: number;
  miner_grid_kwh: number;
  surplus_kwh: number;
  unmeasured_s: number;
  trips: number;
  commands: number;
  releases: number;
  counter_resets: number;
  meter_changes: number;
  torn_tails: number;
  /** wall-clock steps seen (`clock-step` events) */
  clock_steps: number;
  /** records declaring `clock_step_ms` (a step touches every interval it skips) */
  clock_step_records: number;
  /** the sum of `clock_step_ms` in s: wall time labelled with no real time behind it (+), or real time beyond the labels (−) */
  clock_step_s: number;
}

export interface VerifyResult {
  ok: boolean;
  /** whether signatures were checked (a public key was given) */
  signatures: boolean;
  key: string | null;
  totals: LedgerTotals;
  /** the first broken record: its 1-based line, its seq if readable, what is wrong */
  broken?: { line: number; seq?: number; reason: string };
  /** a torn last line: its 1-based line number and length */
  torn?: { line: number; bytes: number };
  /** the records that verified, in order (up to the break) */
  records: LedgerRecord[];
}

export function emptyTotals(): LedgerTotals {
  return {
    records: 0, first_seq: null, last_seq: null, from: null, to: null,
    sources: { counters: 0, integrated: 0, mixed: 0, none: 0 },
    gaps: 0, gap_s: 0, gap_import_kwh: 0, gap_export_kwh: 0,
    import_kwh: 0, export_kwh: 0, miner_kwh: 0, miner_surplus_kwh: 0, miner_grid_kwh: 0, surplus_kwh: 0, unmeasured_s: 0,
    trips: 0, commands: 0, releases: 0, counter_resets: 0, meter_changes: 0, torn_tails: 0,
    clock_steps: 0, clock_step_records: 0, clock_step_s: 0,
  };
}

const r6 = (x: number) => Math.round(x * 1e6) / 1e6;

/** add one record to running totals (also used by export for a range) */
export function addToTotals(t: LedgerTotals, r: LedgerRecord): void {
  t.records++;
  t.first_seq ??= r.seq;
  t.last_seq = r.seq;
  t.from ??= r.start;
  t.to = r.end;
  if (r.source in t.sources) t.sources[r.source]++;
  if (r.gap) {
    t.gaps++;
    t.gap_s += (Date.parse(r.gap.to) - Date.parse(r.gap.from)) / 1000;
    t.gap_import_kwh = r6(t.gap_import_kwh + (r.gap.import_kwh ?? 0));
    t.gap_export_kwh = r6(t.gap_export_kwh + (r.gap.export_kwh ?? 0));
  }
  for (const k of ['import_kwh', 'export_kwh', 'miner_kwh', 'miner_surplus_kwh', 'miner_grid_kwh', 'surplus_kwh'] as const) t[k] = r6(t[k] + (r[k] ?? 0));
  t.unmeasured_s = r6(t.unmeasured_s + (r.unmeasured_s ?? 0));
  if (typeof r.clock_step_ms === 'number') {
    t.clock_step_records++;
    t.clock_step_s = r6(t.clock_step_s + r.clock_step_ms / 1000);
  }
  for (const e of r.events ?? []) {
    if (e.kind === 'trip') t.trips++;
    else if (e.kind === 'command') t.commands++;
    else if (e.kind === 'release') t.releases++;
    else if (e.kind === 'counter-reset') t.counter_resets++;
    else if (e.kind === 'meter-replaced') t.meter_changes++;
    else if (e.kind === 'torn-tail') t.torn_tails++;
    else if (e.kind === 'clock-step') t.clock_steps++;
  }
}

const sameReading = (a: CounterReading, b: CounterReading) => a.import_kwh === b.import_kwh && a.export_kwh === b.export_kwh;
/** counter figures are rounded to 1 mWh, and the two readings each carry float error */
const COUNTER_TOLERANCE_KWH = 1e-5;

/** why `r` cannot follow `prev` (or start a ledger when prev is undefined); undefined if it can */
function linkProblem(r: LedgerRecord, prev: LedgerRecord | undefined, expectedSeq: number, seqLines: Map<number, number>): string | undefined {
  if (r.seq !== expectedSeq) {
    if (r.seq > expectedSeq) {
      const at = seqLines.get(expectedSeq);
      if (at !== undefined) return `out of order: expected seq ${expectedSeq} here, it is at line ${at}`;
      const last = r.seq - 1;
      return `record${last > expectedSeq ? `s seq ${expectedSeq}..${last} are` : ` seq ${expectedSeq} is`} missing`;
    }
    return `out of order: seq ${r.seq} after seq ${expectedSeq - 1}`;
  }
  if (r.prev !== (prev ? prev.hash : GENESIS)) {
    return prev ? `prev does not match the hash of seq ${prev.seq}: a record was dropped, reordered or altered` : 'prev of the first record is not the genesis value';
  }
  const start = Date.parse(r.start);
  const end = Date.parse(r.end);
  if (!Number.isFinite(start) || !Number.isFinite(end) || end <= start) return `bad interval ${r.start} .. ${r.end}`;
  if (!prev) return r.gap ? 'the first record declares a gap' : undefined;
  const prevEnd = Date.parse(prev.end);
  if (r.gap) {
    if (r.gap.from !== prev.end || r.gap.to !== r.start) return `declared gap ${r.gap.from} .. ${r.gap.to} does not run from the end of seq ${prev.seq} to this start`;
    return undefined;
  }
  if (start > prevEnd) return `undeclared gap of ${(start - prevEnd) / 1000} s after seq ${prev.seq} (${prev.end} .. ${r.start})`;
  if (start < prevEnd) return `overlaps seq ${prev.seq} (starts ${r.start}, it ends ${prev.end})`;
  const a = prev.counters?.end;
  const b = r.counters?.start;
  if (a && b && !sameReading(a, b)) return `counter readings do not continue from seq ${prev.seq}`;
  return undefined;
}

function selfProblem(r: LedgerRecord): string | undefined {
  if (r.v !== LEDGER_VERSION) return `unknown record version ${String(r.v)}`;
  if (r.clock_step_ms !== undefined) {
    if (!Number.isInteger(r.clock_step_ms)) return 'clock_step_ms is not a whole number of milliseconds';
    // wall length − step = the real time in the record, which cannot be negative
    const wallMs = Date.parse(r.end) - Date.parse(r.start);
    if (wallMs - r.clock_step_ms < 0) return `declares a clock step of ${r.clock_step_ms} ms, more than its ${wallMs} ms length`;
  }
  if (r.source === 'counters' && r.counters?.start && r.counters.end) {
    const di = r.counters.end.import_kwh - r.counters.start.import_kwh;
    const de = r.counters.end.export_kwh - r.counters.start.export_kwh;
    if (Math.abs(di - r.import_kwh) > COUNTER_TOLERANCE_KWH || Math.abs(de - r.export_kwh) > COUNTER_TOLERANCE_KWH) {
      return 'energy figures disagree with the record\'s own counter readings';
    }
  }
  return undefined;
}

export function verifyLedger(data: string | Buffer, publicKey?: KeyObject): VerifyResult {
  const text = typeof data === 'string' ? data : data.toString('utf8');
  const lines = text.split('\n');
  const tail = lines.pop() ?? '';
  const totals = emptyTotals();
  const result: VerifyResult = { ok: true, signatures: !!publicKey, key: publicKey ? keyId(publicKey) : null, totals, records: [] };
  if (tail.length) result.torn = { line: lines.length + 1, bytes: Buffer.byteLength(tail) };
  const parsed: (ParsedLine | string)[] = lines.map(parseLine);
  const seqLines = new Map<number, number>();
  parsed.forEach((p, i) => { if (typeof p !== 'string' && typeof p.record.seq === 'number' && !seqLines.has(p.record.seq)) seqLines.set(p.record.seq, i + 1); });
  let prev: LedgerRecord | undefined;
  for (let i = 0; i < parsed.length; i++) {
    const p = parsed[i];
    const line = i + 1;
    const fail = (reason: string, seq?: number) => {
      result.ok = false;
      result.broken = { line, ...(seq !== undefined ? { seq } : {}), reason };
    };
    if (typeof p === 'string') {
      // name the record if its seq can still be read, to help find it
      const m = /^\{"v":\d+,"seq":(\d+),/.exec(lines[i]);
      fail(p, m ? Number(m[1]) : undefined);
      break;
    }
    const r = p.record;
    const seq = typeof r.seq === 'number' ? r.seq : undefined;
    if (hashOf(p.body) !== p.hash) { fail('hash does not match the content: the record was altered', seq); break; }
    if (publicKey && !signatureValid(p, publicKey)) {
      fail(r.key !== result.key ? `signed by another key (key ${String(r.key)}, expected ${result.key})` : 'signature invalid', seq);
      break;
    }
    const problem = selfProblem(r) ?? linkProblem(r, prev, prev ? prev.seq + 1 : 0, seqLines);
    if (problem) { fail(problem, seq); break; }
    addToTotals(totals, r);
    result.records.push(r);
    prev = r;
  }
  return result;
}

export function verifyLedgerFile(file: string, publicKey?: KeyObject): VerifyResult {
  return verifyLedger(fs.readFileSync(file), publicKey);
}
