/**
 * Relay-trip latency of the I/O board driver: from the relay contact's Firmata digital message
 * reaching the agent (the chunk handed to the driver, before firmata.js parses it) to every
 * enable-line write handed to the OS, for N boards, over a real pty to the simulated
 * StandardFirmata board (TCP with --tcp). Also reports when the simulated board has parsed the
 * last enable write (includes the pty round trip; not part of the agent's figure).
 *
 *   npx tsx scripts/bench-io-main.ts [--iterations 300] [--boards 8] [--tcp] [--json]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { realClock } from '../agent/clock';
import { createIoBoard } from '../drivers/io';
import type { HostMessage } from '../sim/firmata-codec';
import { startSimFirmata } from '../sim/firmata';
import { Plant } from '../sim/plant';
import { openWire } from '../sim/wire';
import { stats, type Stats } from './bench/stats';

export { stats };

/** order statistics in ms, shared by every bench (scripts/bench/stats.ts) */
export type LatencyStats = Stats;
export interface IoBenchResult {
  boards: number;
  transport: 'pty' | 'tcp';
  /** relay message in -> all enable writes handed to the OS (ms) */
  relayToWritten: LatencyStats;
  /** relay message in -> the simulated board parsed the last enable write (ms) */
  relayToBoard: LatencyStats;
}


const ENABLE_PINS = [2, 3, 4, 5, 6, 8, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31];

export async function benchIo(o: { iterations?: number; boards?: number; usePty?: boolean } = {}): Promise<IoBenchResult> {
  const iterations = o.iterations ?? 300;
  const boards = Math.min(o.boards ?? 8, ENABLE_PINS.length);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hf-bench-io-'));
  const plant = new Plant();
  const enable: Record<string, number> = {};
  for (let i = 0; i < boards; i++) {
    enable[`hb${i}`] = ENABLE_PINS[i];
    plant.boards.set(`hb${i}`, { id: `hb${i}`, chips: 4, enabled: false, active: false, mhz: 0, wattsPerChip: () => 10, tempC: 40 });
  }
  const fans = [{ id: 'fan0', pwm_pin: 9, tach_pin: 'A0' }];
  const wire = await openWire('io', dir, o.usePty ?? true);
  const sim = startSimFirmata({ wire, plant, enable, fans, relayPin: 7, relayActive: 'low' });
  const io = createIoBoard({ serial: wire.endpoint, enable, fans, relay: { pin: 7, active: 'low' } }, realClock);
  const ids = Object.keys(enable);
  const written: number[] = [];
  const atBoard: number[] = [];
  try {
    await io.start();
    if (!io.connected) throw io.lastError ?? new Error('I/O board did not connect');
    let t0 = 0;
    let offWrites = 0;
    let boardDone: (() => void) | undefined;
    sim.on('message', (m: HostMessage) => {
      if (m.kind !== 'digital' || !boardDone) return;
      if (++offWrites === boards) { atBoard.push(performance.now() - t0); boardDone(); }
    });
    io.on('relay', (active: boolean) => {
      if (!active) return;
      t0 = io.rxAt;
      for (const id of ids) io.setEnable(id, false); // what the trip path does
      void io.whenWritten().then(() => written.push(performance.now() - t0));
    });
    for (let i = 0; i < iterations; i++) {
      for (const id of ids) io.setEnable(id, true);
      await io.whenWritten();
      await until(() => ids.every((id) => plant.boards.get(id)!.enabled));
      offWrites = 0;
      const done = new Promise<void>((r) => { boardDone = r; });
      plant.relayActive = true;
      sim.poke();
      await done;
      boardDone = undefined;
      await until(() => written.length === i + 1);
      plant.relayActive = false;
      sim.poke();
      await until(() => !io.relayActive);
    }
  } finally {
    await io.close();
    await sim.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { boards, transport: wire.kind, relayToWritten: stats(written), relayToBoard: stats(atBoard) };
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('bench-io: the simulated board stopped answering');
    await new Promise((r) => setTimeout(r, 1));
  }
}
