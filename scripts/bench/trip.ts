import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import YAML from 'yaml';
import { SimSite } from '../../sim/site';
import type { Scenario, ScenarioPoint } from '../../sim/scenarios/types';
import { stats, type Stats } from './stats';
import { HASHFLEX_SCRIPT } from './where';

/**
 * `hashflex bench trip`: the real agent against the simulated site (8 boards on ptys, meter on
 * Modbus TCP at poll_ms 50), tripped over and over by each source. Two figures per trip:
 *  - agent: signal received by the agent -> every enable line and chain-inactive handed to the OS
 *    (the `latency_ms` the agent reports in its trip event);
 *  - wire:  the signal leaving the simulator -> every enable pin seen low by the simulated I/O board
 *    (includes the controller's WebSocket, the Firmata pty and, for under-frequency, the Modbus
 *    poll and the sustain time).
 */
export interface TripBenchResult {
  boards: number;
  transport: string;
  sources: Record<string, { agent: Stats; wire: Stats }>;
}

export async function benchTrip(opts: { boards?: number; iterations?: number; ufIterations?: number; log?: (s: string) => void } = {}): Promise<TripBenchResult> {
  const boards = opts.boards ?? 8;
  const n = opts.iterations ?? 50;
  const log = opts.log ?? (() => {});
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hashflex-bench-'));
  process.env.HASHFLEX_LOG_FILE ??= path.join(dir, 'agent.log');
  const point: ScenarioPoint = { hz: 60, generationKw: 100, baseLoadKw: 0, relay: false };
  // Frequency events fall at a finite rate (grid inertia): the bench ramps 60 -> 59.5 Hz at
  // 2 Hz/s, a fast RoCoF, so it crosses 59.7 Hz exactly 150 ms after the ramp starts.
  let rampFrom: number | undefined;
  const ROCOF = 2;
  const manual: Scenario = {
    name: 'bench', description: 'set by the bench', durationS: Infinity,
    at: () => (rampFrom === undefined ? point : { ...point, hz: Math.max(59.5, 60 - (ROCOF * (performance.now() - rampFrom)) / 1000) }),
  };
  const site = await SimSite.start({ dir, boards, scenario: manual, controller: true, token: 'bench-token-123', chips: 16, tickMs: 2 });
  let agent: ChildProcess | undefined;
  try {
    const { agentYaml } = site.writeFiles();
    const doc = JSON.parse(JSON.stringify(site.agentConfig()));
    doc.agent.id = 'bench';
    doc.control = { mode: 'setpoint', setpoint_kw: 1000, max_kw: 1000, stagger_ms: 0 };
    doc.grid.underfrequency = { trip_hz: 59.7, sustain_ms: 100, release: 'manual' };
    for (const b of doc.boards) Object.assign(b, { ramp_step_ms: 10, ramp_step_mhz: 50, power_on_ms: 50 });
    fs.writeFileSync(agentYaml, YAML.stringify(doc));
    // the agent in its own process, as on a board; the simulator and controller stay here. From
    // the board package that is the package's own bundle, not a checkout's bin/hashflex.js
    agent = spawn(process.execPath, [HASHFLEX_SCRIPT, 'run', '-c', agentYaml], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, HASHFLEX_LOG: 'error' },
    });
    const ctl = site.controller!;
    const trips: { latency_ms: number }[] = [];
    ctl.on('event', (e: { kind: string; latency_ms: number }) => { if (e.kind === 'trip') trips.push(e); });
    const enables = site.boardIds.map((id) => site.plant.boards.get(id)!);
    const allOff = () => enables.every((b) => !b.enabled);
    const allOn = () => enables.every((b) => b.enabled && b.active && b.mhz > 100);

    /** `fire` starts the signal and returns how long after that the signal itself occurs (ms) */
    const cycle = async (source: string, fire: () => number | void, release: () => Promise<void>) => {
      // generous: a board that faulted while being power-cycled retries on its own backoff
      await waitFor(allOn, 60_000, () => `${source}: boards back on (${enables.filter((b) => !(b.enabled && b.active && b.mhz > 100)).map((b) => `${b.id} ${b.enabled ? 'on' : 'off'}/${b.active ? 'active' : 'inactive'}/${b.mhz} MHz`).join(', ')})`);
      const before = trips.length;
      const t0 = performance.now();
      const signalAfter = fire() ?? 0;
      await waitFor(allOff, 5000, `${source}: all boards off`);
      const wire = performance.now() - t0 - signalAfter;
      await waitFor(() => trips.length > before, 5000, `${source}: trip event`);
      const agentMs = trips[trips.length - 1].latency_ms;
      await release();
      return { wire, agent: agentMs };
    };

    const result: TripBenchResult = { boards, transport: site.transport, sources: {} };
    const run = async (source: string, count: number, fire: () => number | void, release: () => Promise<void>) => {
      const wire: number[] = [];
      const agentMs: number[] = [];
      for (let i = 0; i < count; i++) {
        const r = await cycle(source, fire, release);
        wire.push(r.wire);
        agentMs.push(r.agent);
      }
      result.sources[source] = { agent: stats(agentMs), wire: stats(wire) };
      log(`${source}: ${count} trips`);
    };

    await run('command', n, () => void ctl.command('bench', 'curtail'), async () => { await ctl.command('bench', 'release'); });
    await run('relay', n, () => { point.relay = true; site.plant.relayActive = true; site.firmata.poke(); }, async () => {
      point.relay = false;
      site.plant.relayActive = false;
      site.firmata.poke();
    });
    await run('underfrequency', opts.ufIterations ?? Math.min(n, 20), () => { rampFrom = performance.now(); return (0.3 / ROCOF) * 1000; }, async () => {
      rampFrom = undefined;
      for (let i = 0; i < 100 && !(await ctl.command('bench', 'release')).ok; i++) await new Promise((r) => setTimeout(r, 50));
    });
    return result;
  } finally {
    if (agent && agent.exitCode === null) {
      const exited = new Promise((r) => agent!.once('exit', r));
      agent.kill('SIGTERM');
      await exited;
    }
    await site.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function waitFor(cond: () => boolean, timeoutMs: number, what: string | (() => string)): Promise<void> {
  const end = performance.now() + timeoutMs;
  // a tight loop on setImmediate: the figure must not carry a polling interval
  while (!cond()) {
    if (performance.now() > end) throw new Error(`bench: timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setImmediate(r));
  }
}
