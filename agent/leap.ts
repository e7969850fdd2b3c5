import { VirtualClock } from './clock';
import { validateConfig, type ConfigInput } from './config';
import { Site, type TripRecord } from './site';
import type { ControlEvent } from './control/types';
import { EnergyTally } from '../sim/energy-tally';
import { Plant } from '../sim/plant';
import { simBoard } from '../sim/hashboard';
import type { Scenario, ScenarioCommand, ScenarioFault } from '../sim/scenarios/types';
import { familySettings, fleetHost, fleetPlan } from '../sim/miners/fleet';
import { SIM_FAMILIES, type Family } from '../sim/miners/families';
import { SimMachine, type MachineSpec } from '../sim/miners/machine';
import type { MinerSettings } from './hardware';
import { VirtualBoard, VirtualIo, VirtualMeter, VirtualMiner } from '../sim/virtual';
import { MinerWatch, minerShare } from '../sim/report/miners';
import { Recorder } from '../sim/report/recorder';
import { SignalWatch } from '../sim/report/signals';
import { attributeFaults, watchedHz, type CommandSent, type ControlSeen, type FaultRun, type RunLog, type SettledSeen, type TripSeen } from '../sim/report/summary';

/**
 * The time-leap rig: the real Site and control core on a VirtualClock, with in-process stand-ins
 * for the drivers acting on the simulated plant. A 24-hour scenario runs in seconds. What it does
 * not cover — real transports, driver timing — the pty/TCP rig (sim/site.ts) does.
 * The scenario's command track goes straight to the site's controller methods; its fault track
 * flips the stand-ins' fault switches (sim/virtual.ts).
 */

/** the report's strip shows at most this many miners */
const STRIP_MINERS = 24;
export interface LeapOptions {
  scenario: Scenario;
  durationS: number;
  boards?: number;
  chips?: number;
  /**
   * network miners of the three families in turn (sim/miners/fleet.ts), each a stand-in with its
   * family's settings scale over a simulated machine, hashing at its rated power at the start
   */
  miners?: number;
  /**
   * the fleet of miners: of these families only (default every family, in turn), and with
   * `onOff` each only off or at its rated power (the same machines with no power settings to
   * trim by: what a site gets from firmware that can only be switched)
   */
  fleet?: { families?: readonly Family[]; onOff?: boolean };
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
  /** stop early (Ctrl-C): the result and its log cover the time run so far */
  signal?: AbortSignal;
}

export interface LeapResult {
  /** the simulated time run: less than asked when `signal` stopped it */
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

/** a family's settings, or (onOff) only its setting nearest the rated power: on at rated or off */
function fleetSettings(family: Family, spec: MachineSpec, onOff = false): MinerSettings {
  const s = familySettings(family, spec);
  if (!onOff) return s;
  let at = s.max;
  for (let x = s.min; x <= s.max; x += s.step) if (Math.abs(s.kwAt(x) - spec.ratedKw) < Math.abs(s.kwAt(at) - spec.ratedKw)) at = x;
  return { ...s, min: at, max: at };
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
  const plan = fleetPlan(o.miners ?? 0, o.fleet?.families);
  const machines = plan.map((m) => {
    const machine = new SimMachine(m.id, m.spec);
    plant.machines.set(m.id, machine);
    return machine;
  });
  const config = validateConfig({
    agent: { id: 'leap' },
    meter: { tcp: '127.0.0.1:1', poll_ms: 1000, stale_ms: 5000 },
    boards: ids.map((id, i) => ({ id, serial: { tcp: '127.0.0.1:1' }, chips, enable_pin: 22 + i })),
    miners: plan.map((m) => ({ id: m.id, host: fleetHost(0, m.index), driver: m.family, rated_kw: m.spec.ratedKw })),
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
  const miners = plan.map((m, i) => new VirtualMiner(machines[i], clock, SIM_FAMILIES[m.family].apiMs, { driver: m.family, settings: fleetSettings(m.family, m.spec, o.fleet?.onOff) }));
  const site = new Site(config, { meter, boards, io, miners }, clock);
  const watch = new MinerWatch(plan.map((m, i) => ({
    id: m.id, family: m.family, host: fleetHost(0, m.index), machine: machines[i],
    stopAfter: (tS: number) => { const at = miners[i].stops.find((x) => tOf(x) >= tS - 1e-9); return at === undefined ? undefined : tOf(at); },
  })));
  const strip = machines.slice(0, STRIP_MINERS);
  /** the latest stop a miner's API carried out (the trip is over when the last one is) */
  const lastStopAt = () => miners.reduce((t, m) => Math.max(t, m.stops.at(-1) ?? -Infinity), -Infinity);

  const trips: TripRecord[] = [];
  const tripsSeen: TripSeen[] = [];
  const control: ControlSeen[] = [];
  const settled: SettledSeen[] = [];
  site.on('trip', (t: TripRecord) => {
    trips.push(t);
    const signalAt = t.at - t.latencyMs;
    // every enable line low and every miner's stop carried out
    const off = Math.max(signalAt, allOffAt, lastStopAt());
    tripsSeen.push({ tS: tOf(off), source: t.source, latencyMs: off - signalAt });
  });
  site.on('control', (e: ControlEvent) => {
    if (e.kind === 'settled') {
      settled.push({ tS: tOf(clock.now()), source: e.source, ok: e.ok, ms: e.ms, minersKw: e.miners_kw, ...(e.grid_drop_kw !== undefined ? { gridDropKw: e.grid_drop_kw } : {}) });
      return;
    }
    control.push({ tS: tOf(clock.now()), kind: e.kind, source: e.source, ...('detail' in e ? { detail: e.detail } : {}) });
  });
  await site.start();

  const capacityKw = Math.min(config.control.max_kw, boards.reduce((s, b) => s + b.kwAt(b.maxMhz), 0) + miners.reduce((s, m) => s + m.settings.kwAt(m.settings.max), 0));
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
    if (c.action === 'curtail') {
      watch.curtail(tS);
      // the ack the controller would get (agent/main.ts): every load confirmed off, or which are not
      const notOff = await site.curtail();
      rec.ok = notOff.length === 0;
      if (!rec.ok) rec.error = `not confirmed off: ${notOff.join('; ')}`;
      return;
    }
    if (c.action === 'release') watch.release();
    const r = c.action === 'release' ? site.controller.release() : site.controller.setPower(c.kw, c.ttlS);
    rec.ok = r.ok;
    if (!r.ok) rec.error = r.error;
  }

  function fault(f: ScenarioFault, on: boolean): void {
    const board = f.kind === 'board-garbage' ? boards.find((b) => b.id === (f.target ?? 'hb0')) : undefined;
    if (on) {
      const target = f.kind === 'board-garbage' ? board?.id ?? f.target : f.kind === 'miner-down' ? f.target : undefined;
      const run = { kind: f.kind, ...(target ? { target } : {}), atS: f.atS, untilS: f.atS + f.durationS, seen: [], before: board?.counters.resyncs };
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
      case 'miner-down': { const m = miners.find((x) => x.id === f.target); if (m) m.faults.down = on; break; }
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
  let ranMs = 0;
  for (let ms = 0; ms < o.durationS * 1000 && !o.signal?.aborted; ms += stepMs) {
    apply(ms / 1000);
    relayEdge(ms / 1000, (ms + stepMs) / 1000);
    clock.advance(stepMs);
    plant.tick(stepMs);
    // let the site's promise chains (board runners) run before the next step
    await new Promise((res) => setImmediate(res));
    const minersKw = tally.step(stepMs);
    ranMs = ms + stepMs;
    if (o.record) {
      const tS = (ms + stepMs) / 1000;
      const p = o.scenario.at(tS);
      signals.feed(tS, p.hz, p.relay);
      if (watch.size) watch.sample(tS);
      recorder.add({
        tS, gridKw: plant.gridKw(), minersKw, generationKw: plant.generationKw, loadKw: plant.baseLoadKw, hz: plant.hz, relay: plant.relayActive,
        boards: [...boards.map((b) => { const s = b.status(); return s.on ? s.mhz / b.maxMhz : 0; }), ...strip.map(minerShare)],
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
  const durationS = Math.min(o.durationS, ranMs / 1000);
  const r: LeapResult = { durationS, ...tally.totals(), trips };
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
      rig: 'leap', scenario: o.scenario, durationS, boards: ids, tripHz: config.grid.underfrequency.trip_hz,
      recorder, signals, trips: tripsSeen, control, commands, faults: faults.map(({ before: _b, ...f }) => f),
      ...(plan.length ? { miners: watch.result(), minerStrip: strip.map((m) => m.id), settled } : {}),
    };
  }
  return r;
}
