/**
 * Uplink benchmark (issue 7): messages per second through the journal, and the time to resend a
 * backlog of 10,000 queued frames after the controller comes back. Real sockets on 127.0.0.1,
 * the real SQLite journal in a temp dir, 8-board telemetry frames (~1 kB).
 *
 *   npx tsx scripts/bench-uplink-main.ts [--json] [--frames N] [--backlog N]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Uplink } from '../agent/uplink/client';
import { Journal, type JournalSync } from '../agent/uplink/journal';
import type { TelemetryBody } from '../agent/uplink/protocol';
import { startSimController } from '../sim/controller';

export interface UplinkBenchResult {
  /** appends per second straight into the journal, per sync mode (main-thread cost) */
  journalAppendPerS: { full: number; async: number; normal: number };
  /** per-append main-thread latency (ms), per sync mode */
  appendMs: Record<'full' | 'async' | 'asyncWorker', { median: number; p99: number; max: number }>;
  /** telemetry() calls per second end to end: journaled, sent, stored by the controller, confirmed and deleted */
  endToEndPerS: number;
  /** main-thread time of one telemetry() call while connected (ms): what a trip signal could wait behind */
  telemetryCallMs: { median: number; p99: number; max: number };
  /** 10,000 queued frames: from the connect to the controller holding the last seq, and to the journal being empty */
  resend: { frames: number; toLastSeqMs: number; toEmptyJournalMs: number; framesPerS: number };
  frameBytes: number;
}

function sample(i: number): TelemetryBody {
  return {
    state: 'running', mode: 'surplus', grid: { hz: 59.98 + (i % 5) / 100, kw: 0.42 }, miners: { kw: 10.6, target_kw: 10.8 },
    boards: Array.from({ length: 8 }, (_, b) => ({ id: `hb${b}`, on: true, mhz: 485, kw: 1.33, temp_c: 61.5 + b })),
    fans: Array.from({ length: 4 }, (_, f) => ({ id: `fan${f}`, duty: 0.55, rpm: 4100 })),
  };
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const round = (x: number, d = 2): number => Number(x.toFixed(d));

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'hashflex-bench-'));
}

async function until(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('bench: condition not reached in time');
    await new Promise((r) => setImmediate(r));
  }
}

function appendRate(sync: JournalSync, n: number, text: string, checkpoint: 'inline' | 'worker' = 'inline'): { perS: number; lat: number[] } {
  const dir = tmp();
  const j = Journal.open({ dir, sync, checkpoint });
  const lat: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const a = performance.now();
    j.append('telemetry', () => text);
    lat.push(performance.now() - a);
  }
  const perS = n / ((performance.now() - t0) / 1000);
  j.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return { perS, lat };
}

export async function benchUplink(opts: { frames?: number; backlog?: number } = {}): Promise<UplinkBenchResult> {
  const frames = opts.frames ?? 2000;
  const backlog = opts.backlog ?? 10_000;
  const text = JSON.stringify({ type: 'telemetry', seq: 1, ts: new Date().toISOString(), ...sample(0) });

  const full = appendRate('full', frames, text);
  const asyncMode = appendRate('async', frames, text);
  const normal = appendRate('normal', frames, text);
  const asyncWorker = appendRate('async', frames, text, 'worker');
  const lat = (xs: number[]) => ({ median: round(pct(xs, 50), 3), p99: round(pct(xs, 99), 3), max: round(Math.max(...xs), 3) });

  // end to end: telemetry() as fast as the loop allows while the controller confirms
  const ctl = await startSimController({ token: 'bench' });
  let dir = tmp();
  let journal = Journal.open({ dir });
  let up = new Uplink({ url: ctl.url, token: 'bench', agentId: 'bench', version: '0.1.0', bootId: 'bench', journal });
  up.start();
  await new Promise((r) => up.once('connected', r));
  const t0 = performance.now();
  const calls: number[] = [];
  for (let i = 0; i < frames; i++) {
    const a = performance.now();
    up.telemetry(sample(i));
    calls.push(performance.now() - a);
    if (i % 50 === 49) await new Promise((r) => setImmediate(r)); // let replies in, as a live agent would
  }
  await until(() => (ctl.agents.get('bench')?.lastSeq ?? 0) === frames && journal.stats().frames === 0, 120_000);
  const endToEndPerS = frames / ((performance.now() - t0) / 1000);
  await up.stop();
  journal.close();
  fs.rmSync(dir, { recursive: true, force: true });

  // resend: queue `backlog` frames with the controller away, then connect
  dir = tmp();
  journal = Journal.open({ dir, sync: 'normal' }); // filling the backlog fast; sync does not affect resend
  for (let i = 0; i < backlog; i++) journal.append('telemetry', (seq) => JSON.stringify({ type: 'telemetry', seq, ts: new Date().toISOString(), ...sample(i) }));
  journal.close();
  journal = Journal.open({ dir });
  up = new Uplink({ url: ctl.url, token: 'bench', agentId: 'resend', version: '0.1.0', bootId: 'bench', journal });
  const r0 = performance.now();
  up.start();
  await until(() => (ctl.agents.get('resend')?.lastSeq ?? 0) === backlog, 120_000);
  const toLast = performance.now() - r0;
  await until(() => journal.stats().frames === 0, 120_000);
  const toEmpty = performance.now() - r0;
  const rec = ctl.agents.get('resend')!;
  if (rec.stored.length !== backlog || rec.stored.some((s, i) => s !== i + 1)) throw new Error('bench: resend out of order or incomplete');
  await up.stop();
  await ctl.close();
  journal.close();
  fs.rmSync(dir, { recursive: true, force: true });

  return {
    journalAppendPerS: { full: Math.round(full.perS), async: Math.round(asyncMode.perS), normal: Math.round(normal.perS) },
    appendMs: { full: lat(full.lat), async: lat(asyncMode.lat), asyncWorker: lat(asyncWorker.lat) },
    endToEndPerS: Math.round(endToEndPerS),
    telemetryCallMs: lat(calls),
    resend: { frames: backlog, toLastSeqMs: Math.round(toLast), toEmptyJournalMs: Math.round(toEmpty), framesPerS: Math.round(backlog / (toLast / 1000)) },
    frameBytes: text.length,
  };
}
