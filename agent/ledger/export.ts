import type { LedgerRecord } from './record';
import { addToTotals, emptyTotals, type LedgerTotals } from './verify';

/**
 * Report files from verified records: CSV (one row per interval, for a spreadsheet) and JSON
 * (totals plus the full records, each still carrying its hash and signature, so a reader can
 * check any of them against the board's public key).
 * A record is in the range when its interval starts in [from, to).
 */
export function selectRange(records: LedgerRecord[], from?: number, to?: number): LedgerRecord[] {
  return records.filter((r) => {
    const s = Date.parse(r.start);
    return (from === undefined || s >= from) && (to === undefined || s < to);
  });
}

export const CSV_COLUMNS = [
  'seq', 'start', 'end', 'meter', 'source', 'import_kwh', 'export_kwh', 'miner_kwh', 'miner_surplus_kwh', 'miner_grid_kwh',
  'surplus_kwh', 'unmeasured_s', 'trips', 'commands', 'releases', 'counter_resets', 'meter_changes', 'gap_s', 'clock_step_ms',
  'counter_import_start', 'counter_import_end', 'counter_export_start', 'counter_export_end', 'hash',
] as const;

function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(records: LedgerRecord[]): string {
  const rows = records.map((r) => {
    const count = (k: string) => (r.events ?? []).filter((e) => e.kind === k).length;
    const row: Record<(typeof CSV_COLUMNS)[number], unknown> = {
      seq: r.seq, start: r.start, end: r.end, meter: r.meter, source: r.source,
      import_kwh: r.import_kwh, export_kwh: r.export_kwh, miner_kwh: r.miner_kwh, miner_surplus_kwh: r.miner_surplus_kwh,
      miner_grid_kwh: r.miner_grid_kwh, surplus_kwh: r.surplus_kwh, unmeasured_s: r.unmeasured_s,
      trips: count('trip'), commands: count('command'), releases: count('release'),
      counter_resets: count('counter-reset'), meter_changes: count('meter-replaced'),
      gap_s: r.gap ? (Date.parse(r.gap.to) - Date.parse(r.gap.from)) / 1000 : 0,
      clock_step_ms: r.clock_step_ms ?? 0,
      counter_import_start: r.counters?.start?.import_kwh, counter_import_end: r.counters?.end?.import_kwh,
      counter_export_start: r.counters?.start?.export_kwh, counter_export_end: r.counters?.end?.export_kwh,
      hash: r.hash,
    };
    return CSV_COLUMNS.map((c) => cell(row[c])).join(',');
  });
  return `${[CSV_COLUMNS.join(','), ...rows].join('\n')}\n`;
}

export interface ExportDocument {
  v: 1;
  from: string | null;
  to: string | null;
  /** base64 SPKI DER of the key the records were checked against, null if only the chain was checked */
  public_key: string | null;
  verified: 'signatures' | 'chain';
  totals: LedgerTotals;
  records: LedgerRecord[];
}

export function toJson(records: LedgerRecord[], meta: Omit<ExportDocument, 'v' | 'totals' | 'records'>): string {
  const totals = emptyTotals();
  for (const r of records) addToTotals(totals, r);
  const doc: ExportDocument = { v: 1, ...meta, totals, records };
  return `${JSON.stringify(doc, null, 2)}\n`;
}
