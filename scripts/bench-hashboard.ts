/**
 * Trip latency over real ptys: from the trip() call on every board to chain-inactive having
 * arrived at every simulated chain (8 boards × 110 BM1366 by default, the agent and the sim in
 * one process, as `hashflex sim` runs them). Also reports the time until every trip() resolved
 * (bytes handed to the OS). Run: `npx tsx scripts/bench-hashboard-main.ts [--boards N] [--chips N] [--iterations N] [--tcp] [--json]`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { realClock } from '../agent/clock';
import { createHashboard, type BoardDriver } from '../drivers/hashboard';
import { CMD_INACTIVE, GROUP_ALL, TYPE_CMD, type Command } from '../drivers/hashboard/codec';
import { simBoard, startSimChain, type SimChain } from '../sim/hashboard';
import type { SimBoard } from '../sim/plant';
import { hasSocat, openWire, type SimWire } from '../sim/wire';
import { stats, type Stats } from './bench/stats';

export { stats };

/** order statistics in ms, shared by every bench (scripts/bench/stats.ts) */
export type LatencyStats = Stats;
export interface HashboardBenchResult extends LatencyStats {
  what: string;
  boards: number;
  chips: number;
  iterations: number;
  transport: 'pty' | 'tcp';
  /** trip() call -> every trip() promise resolved (bytes handed to the OS), ms */
  handed: LatencyStats;
}


const INACTIVE = TYPE_CMD | GROUP_ALL | CMD_INACTIVE;

export async function benchHashboardTrip(o: { boards?: number; chips?: number; iterations?: number; usePty?: boolean } = {}): Promise<HashboardBenchResult> {
  const n = o.boards ?? 8;
  const chips = o.chips ?? 110;
  const iterations = o.iterations ?? 200;
  const usePty = o.usePty ?? hasSocat();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hashflex-bench-hb-'));
  const wires: SimWire[] = [];
  const chains: SimChain[] = [];
  const sims: SimBoard[] = [];
  const hbs: BoardDriver[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const wire = await openWire(`hb${i}`, dir, usePty);
      const board = simBoard(`hb${i}`, 'bm1366', chips);
      wires.push(wire);
      sims.push(board);
      chains.push(startSimChain({ wire, board, model: 'bm1366', chips }));
      hbs.push(createHashboard({ id: `hb${i}`, model: 'bm1366', serial: wire.endpoint, chips, rampStepMhz: 500, rampStepMs: 5 }, realClock));
    }
    await Promise.all(hbs.map((h) => h.start()));
    const received: number[] = [];
    const handed: number[] = [];
    for (let it = 0; it < iterations; it++) {
      await Promise.all(hbs.map((h) => h.setFrequency(300)));
      await waitFor(() => sims.every((b) => b.active), 'boards hashing');
      let pending = n;
      let t0 = 0;
      let doneAt = 0;
      const arrived = new Promise<void>((resolve) => {
        for (const c of chains) {
          const on = (f: Command) => {
            if (f.header !== INACTIVE) return;
            c.off('frame', on);
            if (--pending === 0) { doneAt = performance.now(); resolve(); }
          };
          c.on('frame', on);
        }
      });
      t0 = performance.now();
      const trips = hbs.map((h) => h.trip());
      await Promise.all(trips);
      handed.push(performance.now() - t0);
      await arrived;
      received.push(doneAt - t0);
    }
    return { what: 'trip() on every board -> chain-inactive received by every chain (ms)', boards: n, chips, iterations, transport: usePty ? 'pty' : 'tcp', ...stats(received), handed: stats(handed) };
  } finally {
    await Promise.all(hbs.map((h) => h.close()));
    for (const c of chains) c.close();
    await Promise.all(wires.map((w) => w.close()));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function waitFor(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`bench: ${what} not reached`);
    await new Promise((r) => setTimeout(r, 1));
  }
}
