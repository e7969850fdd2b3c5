/**
 * Meter poll latency: one fast-block read (Hz + total W, the driver's per-poll request) from
 * request to decoded reply, through the driver's shared bus (modbus-serial), against the
 * simulated SDM630 over Modbus TCP on loopback and over RTU on a pty. A pty moves bytes
 * instantly, so for RTU the sim holds each reply back by the time request + reply take on a
 * real line at the given baud (11 bits a character, plus the 3.5-character gap), which is what
 * dominates on RS-485. Also: how closely a meter at poll_ms 50 over TCP keeps its rate.
 *
 *   npx tsx scripts/bench-meter-main.ts [--n 300] [--json]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { realClock } from '../agent/clock';
import type { MeterSample } from '../agent/hardware';
import { BusRegistry, createMeter, type BusSpec } from '../drivers/meter';
import { startSimMeter } from '../sim/meter';
import { Plant } from '../sim/plant';
import { openWire } from '../sim/wire';
import { stats, type Stats } from './bench/stats';

/** order statistics in ms, shared by every bench (scripts/bench/stats.ts) */
export type PollStats = Stats;
export interface MeterBenchResult {
  /** one 20-register fast-block read, request -> decoded reply (ms) */
  tcp: PollStats;
  rtu115200: PollStats;
  rtu9600: PollStats;
  /** the pty alone, no line-time pacing (the driver's own overhead over a serial port) */
  rtuUnpaced: PollStats;
  /** a meter at poll_ms 50 over TCP: interval between samples (ms), and samples per second */
  tcpAt50: PollStats & { perSecond: number };
}


async function readLoop(spec: BusSpec, unit: number, n: number): Promise<PollStats> {
  const buses = new BusRegistry();
  const bus = buses.acquire(spec);
  const xs: number[] = [];
  try {
    await bus.read(unit, 4, 0x34, 20, 2000); // connect and warm up
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await bus.read(unit, 4, 0x34, 20, 2000);
      xs.push(performance.now() - t0);
    }
  } finally {
    await buses.release(bus);
  }
  return stats(xs);
}

export async function benchMeter(o: { n?: number } = {}): Promise<MeterBenchResult> {
  const n = o.n ?? 300;
  const plant = new Plant();
  plant.baseLoadKw = 6;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hashflex-bench-meter-'));
  const wire = await openWire('meter', dir, true);
  const cleanup: (() => Promise<void>)[] = [async () => { await wire.close(); fs.rmSync(dir, { recursive: true, force: true }); }];
  try {
    const tcpSim = await startSimMeter({ plant, model: 'sdm630', unit: 1 });
    cleanup.unshift(() => tcpSim.close());
    const tcp = await readLoop({ tcp: tcpSim.tcp }, 1, n);

    const serial = { ...wire.endpoint, baud: 115200 } as { path: string; baud: number };
    const rtu = async (baud: number, count: number) => {
      const sim = await startSimMeter({ plant, model: 'sdm630', unit: 1, rtu: wire, tcp: false, baud });
      try {
        return await readLoop({ serial: { ...serial, baud: baud || 115200 } }, 1, count);
      } finally {
        await sim.close();
      }
    };
    const rtuUnpaced = await rtu(0, n);
    const rtu115200 = await rtu(115200, n);
    const rtu9600 = await rtu(9600, Math.min(n, 150));

    const meter = createMeter({ model: 'sdm630', tcp: tcpSim.tcp, unit: 1, poll_ms: 50, stale_ms: 1000 }, realClock, { buses: new BusRegistry() });
    const ats: number[] = [];
    meter.on('sample', (s: MeterSample) => ats.push(performance.now()));
    await meter.start();
    await new Promise((r) => setTimeout(r, 3000));
    await meter.stop();
    const gaps = ats.slice(1).map((t, i) => t - ats[i]);
    const perSecond = Math.round((ats.length - 1) / ((ats[ats.length - 1] - ats[0]) / 1000) * 10) / 10;
    return { tcp, rtu115200, rtu9600, rtuUnpaced, tcpAt50: { ...stats(gaps), perSecond } };
  } finally {
    for (const c of cleanup) await c();
  }
}
