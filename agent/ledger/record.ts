import { createHash, sign, verify, type KeyObject } from 'node:crypto';

/**
 * The ledger record (format version 1) and its line encoding. See agent/ledger/README.md.
 *
 * One record is one line of ledger.jsonl. The signed bytes are the line itself up to the hash:
 * the line is `BODY` with its closing `}` replaced by `,"hash":"<hex>","sig":"<base64>"}`. A
 * verifier cuts that suffix off, puts the `}` back, and has the exact bytes that were hashed
 * and signed: no JSON re-serialization, so any language can check a record.
 *   hash = SHA-256(BODY) as lowercase hex;  sig = Ed25519(board key, BODY) as base64.
 */
export const LEDGER_VERSION = 1;
/** `prev` of the first record (seq 0) */
export const GENESIS = '0'.repeat(64);

export interface CounterReading {
  import_kwh: number;
  export_kwh: number;
}

/** how an interval's grid energy was measured */
export type EnergySource = 'counters' | 'integrated' | 'mixed' | 'none';

export interface LedgerEvent {
  at: string;
  /** trip | command | release (from the agent); counter-reset | meter-replaced | torn-tail | clock-step (ledger's own) */
  kind: string;
  [detail: string]: unknown;
}

export interface LedgerGap {
  /** end of the previous record */
  from: string;
  /** start of this record */
  to: string;
  /** restart: the agent was not running; clock-jump: the wall clock stepped far ahead (NTP after a cold boot) */
  reason: 'restart' | 'clock-jump';
  /** counter advance across the gap (first reading now − last reading before); null when unknown */
  import_kwh: number | null;
  export_kwh: number | null;
}

export interface RecordBody {
  v: number;
  seq: number;
  agent?: string;
  start: string;
  end: string;
  meter: string;
  source: EnergySource;
  import_kwh: number;
  export_kwh: number;
  /** meter register readings at the interval's two ends (null: none yet / meter silent) */
  counters: { start: CounterReading | null; end: CounterReading | null };
  miner_kwh: number;
  /** min(miner_kwh, import_kwh): all import in the interval is charged to the miners first */
  miner_grid_kwh: number;
  /** miner_kwh − miner_grid_kwh */
  miner_surplus_kwh: number;
  /** export_kwh + miner_surplus_kwh: what would have been exported with the miners off */
  surplus_kwh: number;
  /** figures from integrating meter power between samples, for cross-checking the counters */
  sampled: { samples: number; import_kwh: number; export_kwh: number; miner_grid_kwh: number };
  /** seconds of the interval with no meter power held (meter silent longer than the hold) */
  unmeasured_s: number;
  events: LedgerEvent[];
  /** events left out of `events` to bound the record's size */
  events_dropped?: number;
  /**
   * only on a record during which the wall clock stepped: its wall-clock length (end − start)
   * minus the time that really passed in it (monotonic), in ms. Positive: the clock stepped
   * ahead (wall time with no real time behind it); negative: it stepped back (the record holds
   * more real time than its label). Energy is always integrated over the real time.
   */
  clock_step_ms?: number;
  gap?: LedgerGap;
  /** first 16 hex digits of SHA-256 of the signing key's SPKI DER */
  key: string;
  prev: string;
}

export interface LedgerRecord extends RecordBody {
  hash: string;
  sig: string;
}

/** 1 mWh resolution: below any revenue meter's register resolution */
export function kwh(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

/** encode, hash and sign a body into its line (with the trailing newline) */
export function sealRecord(body: RecordBody, privateKey: KeyObject): { line: string; record: LedgerRecord } {
  const text = JSON.stringify(body);
  const bytes = Buffer.from(text, 'utf8');
  const hash = createHash('sha256').update(bytes).digest('hex');
  const sig = sign(null, bytes, privateKey).toString('base64');
  const line = `${text.slice(0, -1)},"hash":"${hash}","sig":"${sig}"}\n`;
  return { line, record: { ...body, hash, sig } };
}

const SUFFIX = /,"hash":"([0-9a-f]{64})","sig":"([A-Za-z0-9+/]+={0,2})"\}$/;

export interface ParsedLine {
  body: Buffer;
  record: LedgerRecord;
  hash: string;
  sig: string;
}

/** split one line (without newline) into signed bytes and record; a reason string if it is not one */
export function parseLine(line: string): ParsedLine | string {
  const m = SUFFIX.exec(line);
  if (!m) return 'not a ledger record (no hash and signature at the end)';
  // one byte string per signature: base64 has spare bits in its last character, so re-encode
  const sigBytes = Buffer.from(m[2], 'base64');
  if (sigBytes.length !== 64 || sigBytes.toString('base64') !== m[2]) return 'signature field is malformed';
  const text = `${line.slice(0, m.index)}}`;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return 'not a ledger record (body is not JSON)';
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) return 'not a ledger record (body is not an object)';
  return { body: Buffer.from(text, 'utf8'), record: { ...(body as RecordBody), hash: m[1], sig: m[2] }, hash: m[1], sig: m[2] };
}

export function hashOf(body: Buffer): string {
  return createHash('sha256').update(body).digest('hex');
}

export function signatureValid(p: ParsedLine, publicKey: KeyObject): boolean {
  try {
    return verify(null, p.body, publicKey, Buffer.from(p.sig, 'base64'));
  } catch {
    return false;
  }
}
