import { VirtualClock } from './clock';
import { validateConfig, type ConfigInput } from './config';
import { Site, type TripRecord } from './site';
import type { ControlEvent } from './control/types';
import { EnergyTally } from '../sim/energy-tally';
import { Plant } from '../sim/plant';
import { simBoard } from '../sim/hashboard';
import type { Scenario, ScenarioCommand, ScenarioFault } from '../sim/scenarios/types';
import { VirtualBoard, VirtualIo, VirtualMeter } from '../sim/virtual';
import { Recorder } from '../sim/report/recorder';
import { SignalWatch } from '../sim/report/signals';
import { attributeFaults, watchedHz, type CommandSent, type ControlSeen, type FaultRun, type RunLog, type TripSeen } from '../sim/report/summary';

/**
 * The time-leap rig: the real Site and control core on a VirtualClock, with in-process stand-ins
 * for the drivers acting on the simulated plant. A 24-hour scenario runs in seconds. What it does
 * not cover — real transports, driver timing — the pty/TCP rig (sim/site.ts) does.
 * The scenario's command track goes straight to the site's controller methods; its fault track
 * flips the stand-ins' fault switches (sim/virtual.ts).
 */
export interface LeapOptions {
  scenario: Scenario;
  durationS: number;
  boards?: number;
  chips?: number;
  /** config overrides (control, grid...), merged over the rig's defaults */
  config?: Partial<ConfigInput>;
  /** plant/accounting step (ms) */
  stepMs?: number;
  /** called every simulated second, for progress and live status */
  onSecond?: (tS: number, site: Site, plant: Plant) => void;
  /** wall-clock pacing: virtual seconds per real second; undefined = as fast as possible */
  speed?: number;
  /** keep a RunLog for a report (plots, trips, faults, expectations) */
  record?: boolean;
}

export interface LeapResult {
  durationS: number;
  surplusKwh: number;
  /** miner energy that came out of the surplus */
  usedKwh: number;
  minerKwh: number;
  /** grid import the miners caused: their draw beyond the surplus */
  minerImportKwh: number;
  /** times a board went from off to on */
  switchings: number;
  trips: TripRecord[];
  /** with `record`: everything a report needs */
  log?: RunLog;
}

export async function runLeap(o: LeapOptions): Promise<LeapResult> {
  const clock = new VirtualClock();
  const t0 = clock.now();
  const tOf = (ms: number) => (ms - t0) / 1000;
  const plant = new Plant();
  const n = o.boards ?? 4;
  const chips = o.chips ?? 110;
  const ids = Array.from({ length: n }, (_, i) => `hb${i}`);
  for (const id of ids) {
    const b = simBoard(id, 'bm1366', chips);
    b.enabled = false;
    plant.boards.set(id, b);
  }
  const config = validateConfig({
    agent: { id: 'leap' },
    meter: { tcp: '127.0.0.1:1', poll_ms: 1000, stale_ms: 5000 },
    boards: ids.map((id, i) => ({ id, serial: { tcp: '127.0.0.1:1' }, chips, enable_pin: 22 + i })),
    io: { tcp: '127.0.0.1:1' },
    grid: { nominal_hz: o.scenario.nominalHz ?? 60, underfrequency: { release: 'auto', hold_s: 10 } },
    ...o.config,
  });
  let ioRef: VirtualIo | undefined;
  const apply = (tS: number) => {
    const p = o.scenario.at(tS);
    plant.hz = p.hz;
    plant.generationKw = p.generationKw;
    plant.baseLoadKw = p.baseLoadKw;
    plant.relayActive = p.relay;
    ioRef?.poke();
  };
  apply(0);
  // the moment the last enable line fell: trips are timed from the plant, not from when the
  // promise chain reporting them ran (that waits for the end of the step in virtual time)
  let allOffAt = -Infinity;
  const io = new (class extends VirtualIo {
    override setEnable(id: string, on: boolean): void {
      super.setEnable(id, on);
      if (!on && [...plant.boards.values()].every((b) => !b.enabled)) allOffAt = clock.now();
    }
  })(plant, clock, 0); // the relay is poked at its exact edges (below), not polled every 10 ms
  ioRef = io;
  const meter = new VirtualMeter(plant, clock, config.meter.poll_ms, config.meter.stale_ms, (now) => apply(tOf(now)));
  const boards = ids.map((id) => new VirtualBoard(plant.boards.get(id)!, 'bm1366', clock));
  const site = new Site(config, { meter, boards, io }, clock);

  const trips: TripRecord[] = [];
  const tripsSeen: TripSeen[] = [];
  const control: ControlSeen[] = [];
  site.on('trip', (t: TripRecord) => {
    trips.push(t);
    const signalAt = t.at - t.latencyMs;
    const off = Math.max(signalAt, allOffAt);
    tripsSeen.push({ tS: tOf(off), source: t.source, latencyMs: off - signalAt });
  });
  site.on('control', (e: ControlEvent) => control.push({ tS: tOf(clock.now()), kind: e.kind, source: e.source, ...('detail' in e ? { detail: e.detail } : {}) }));
  await site.start();

  const capacityKw = Math.min(config.control.max_kw, boards.reduce((s, b) => s + b.kwAt(b.maxMhz), 0));
  const recorder = new Recorder(capacityKw);
  const signals = new SignalWatch(o.scenario, watchedHz(o.scenario, config.grid.underfrequency.trip_hz));
  const commands: CommandSent[] = [];
  const faults: (FaultRun & { before?: number })[] = [];
  const outages: { from: number; to: number }[] = [];
  if (o.record) {
    for (const c of o.scenario.commands ?? []) if (c.atS < o.durationS) clock.setTimeout(() => void command(c), c.atS * 1000);
    for (const f of o.scenario.faults ?? []) if (f.atS < o.durationS) clock.setTimeout(() => fault(f, true), f.atS * 1000);
  }

  async function command(c: ScenarioCommand): Promise<void> {
    const tS = tOf(clock.now());
    const rec: CommandSent = { tS, action: c.action, ...(c.action === 'set_power' ? { kw: c.kw, ttlS: c.ttlS } : {}), delivered: true };
    commands.push(rec);
    // an unreachable controller sends nothing: the site runs on its local policy
    if (outages.some((x) => tS >= x.from && tS < x.to)) { rec.delivered = false; return; }
    if (c.action === 'curtail') { await site.curtail(); rec.ok = true; return; }
    const r = c.action === 'release' ? site.controller.release() : site.controller.setPower(c.kw, c.ttlS);
    rec.ok = r.ok;
    if (!r.ok) rec.error = r.error;
  }

  function fault(f: ScenarioFault, on: boolean): void {
    const board = boards.find((b) => b.id === (f.target ?? 'hb0'));
    if (on) {
      const run = { kind: f.kind, ...(f.kind === 'board-garbage' ? { target: board?.id ?? f.target } : {}), atS: f.atS, untilS: f.atS + f.durationS, seen: [], before: board?.counters.resyncs };
      faults.push(run);
      clock.setTimeout(() => fault(f, false), f.durationS * 1000);
    } else {
      const run = faults.find((x) => x.atS === f.atS && x.kind === f.kind);
      if (run && board && run.before !== undefined && f.kind === 'board-garbage') run.seen.push(`link ${board.id}: ${board.counters.resyncs - run.before} resyncs`);
    }
    switch (f.kind) {
      case 'meter-silence': meter.faults.timeout = on; break;
      case 'board-garbage': if (board) board.faults.garbage = on; break;
      case 'io-loss': if (on) io.faults.unplug(); else io.faults.replug(); break;
      case 'controller-outage': if (on) outages.push({ from: f.atS, to: f.atS + f.durationS }); break;
    }
  }

  /** a relay edge inside the coming step: set the plant and poke the I/O board at that instant */
  function relayEdge(a: number, b: number): void {
    const want = o.scenario.at(b).relay;
    if (want === plant.relayActive) return;
    let lo = a, hi = b;
    while (hi - lo > 0.0005) {
      const mid = (lo + hi) / 2;
      if (o.scenario.at(mid).relay === want) hi = mid;
      else lo = mid;
    }
    clock.setTimeout(() => { plant.relayActive = want; io.poke(); }, Math.round((hi - a) * 1000));
  }

  const stepMs = o.stepMs ?? 100;
  const tally = new EnergyTally(plant);
  const wall0 = Date.now();
  let nextSecond = 0;
  for (let ms = 0; ms < o.durationS * 1000; ms += stepMs) {
    apply(ms / 1000);
    relayEdge(ms / 1000, (ms + stepMs) / 1000);
    clock.advance(stepMs);
    plant.tick(stepMs);
    // let the site's promise chains (board runners) run before the next step
    await new Promise((res) => setImmediate(res));
    const miners = tally.step(stepMs);
    if (o.record) {
      const tS = (ms + stepMs) / 1000;
      const p = o.scenario.at(tS);
      signals.feed(tS, p.hz, p.relay);
      recorder.add({
        tS, gridKw: plant.gridKw(), minersKw: miners, generationKw: plant.generationKw, loadKw: plant.baseLoadKw, hz: plant.hz,
        boards: boards.map((b) => { const s = b.status(); return s.on ? s.mhz / b.maxMhz : 0; }),
        state: site.controller.state, targetKw: site.controller.target,
      }, stepMs / 1000);
    }
    if (ms >= nextSecond * 1000) {
      o.onSecond?.(nextSecond, site, plant);
      nextSecond++;
      if (o.speed) {
        const ahead = (clock.now() - t0) / o.speed - (Date.now() - wall0);
        if (ahead > 5) await new Promise((res) => setTimeout(res, ahead));
      }
    }
  }
  await site.stop();
  const r: LeapResult = { durationS: o.durationS, ...tally.totals(), trips };
  if (o.record) {
    recorder.flush();
    attributeFaults(faults, tripsSeen, control);
    for (const f of faults) {
      if (f.kind === 'controller-outage') {
        const lost = commands.filter((c) => !c.delivered && c.tS >= f.atS && c.tS < f.untilS).length;
        f.seen.push(`no uplink in the time-leap rig: ${lost} command${lost === 1 ? '' : 's'} not delivered during the outage; the site ran on its local policy`);
      }
    }
    r.log = {
      rig: 'leap', scenario: o.scenario, durationS: o.durationS, boards: ids, tripHz: config.grid.underfrequency.trip_hz,
      recorder, signals, trips: tripsSeen, control, commands, faults: faults.map(({ before: _b, ...f }) => f),
    };
  }
  return r;
}
