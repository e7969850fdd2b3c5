import { BoardRunner } from '../../agent/board-runner';
import { VirtualClock } from '../../agent/clock';
import { splitTarget } from '../../agent/control/split';
import type { LoadModel } from '../../agent/control/types';
import { runLeap } from '../../agent/leap';
import { logger } from '../../agent/log';
import { hashboardLoad } from '../../agent/loads';
import { simBoard } from '../../sim/hashboard';
import { EnergyTally, type EnergyTotals } from '../../sim/energy-tally';
import { Plant } from '../../sim/plant';
import { windSurplus24h } from '../../sim/scenarios/builtin';
import type { Scenario } from '../../sim/scenarios/types';
import { VirtualBoard, VirtualIo, VirtualMeter } from '../../sim/virtual';
import { evccPolicy, minimumKw, openemsPolicy, type Policy } from './policies';

/**
 * `hashflex bench surplus`: the wind-surplus-24h scenario in virtual time, followed by
 * hashflex's surplus mode (the real Site and control core, agent/leap.ts) and, over the same
 * plant, boards and board runners, by two baseline policies (./policies.ts).
 *
 * The miners are sized to the surplus (8 boards × 110 BM1366 chips ≈ 10.6 kW against a peak
 * surplus near 9 kW) so the figures measure following, not capacity.
 */
export interface SurplusFigures {
  policy: string;
  about: string;
  surplusKwh: number;
  usedKwh: number;
  minerKwh: number;
  minerImportKwh: number;
  /** usedKwh / surplusKwh */
  usedShare: number;
  /** minerImportKwh / minerKwh */
  importShare: number;
  /** times a board went from off to on */
  switchings: number;
  /** wall time of the run (ms) */
  wallMs: number;
}

export interface SurplusBenchResult {
  scenario: string;
  durationS: number;
  boards: number;
  chips: number;
  stepMs: number;
  /** meter poll period hashflex ran with (ms) */
  hashflexPollMs: number;
  policies: SurplusFigures[];
  /**
   * network miners instead of boards, hashflex in surplus mode over the same scenario: fleets of
   * miners that trim by power target or profile beside the same machines switched on and off only
   */
  fleets: (SurplusFigures & { miners: number; family: string })[];
}

export interface SurplusBenchOptions {
  scenario?: Scenario;
  durationS?: number;
  boards?: number;
  chips?: number;
  stepMs?: number;
  /** hashflex's meter.poll_ms (default 1000: the same information rate as the 1 s baseline) */
  pollMs?: number;
  /** hashflex's control.margin_kw (default: the config default, 0.2) */
  marginKw?: number;
  log?: (s: string) => void;
}

const MAX_KW = 20;

export async function benchSurplus(o: SurplusBenchOptions = {}): Promise<SurplusBenchResult> {
  const scenario = o.scenario ?? windSurplus24h;
  const durationS = o.durationS ?? scenario.durationS;
  const boards = o.boards ?? 8;
  const chips = o.chips ?? 110;
  const stepMs = o.stepMs ?? 100;
  const pollMs = o.pollMs ?? 1000;
  const log = o.log ?? (() => {});
  const out: SurplusFigures[] = [];

  let wall = Date.now();
  const control = { mode: 'surplus' as const, max_kw: MAX_KW, ...(o.marginKw !== undefined ? { margin_kw: o.marginKw } : {}) };
  const leap = await runLeap({
    scenario, durationS, boards, chips, stepMs,
    config: { control, meter: { tcp: '127.0.0.1:1', poll_ms: pollMs, stale_ms: Math.max(5000, pollMs * 5) } },
  });
  out.push(figures('hashflex', `surplus mode, meter every ${pollMs} ms, adaptive margin ≤ ${o.marginKw ?? 0.2} kW`, leap, Date.now() - wall));
  log(`hashflex: ${durationS} s in ${Date.now() - wall} ms`);

  for (const make of [(m: LoadModel[]) => openemsPolicy(MAX_KW), (m: LoadModel[]) => evccPolicy(MAX_KW, minimumKw(m))]) {
    wall = Date.now();
    const r = await runPolicy(make, { scenario, durationS, boards, chips, stepMs });
    out.push(figures(r.name, r.about, r, Date.now() - wall));
    log(`${r.name}: ${durationS} s in ${Date.now() - wall} ms`);
  }
  const fleets = [];
  for (const f of FLEETS) {
    wall = Date.now();
    const r = await runLeap({
      scenario, durationS, boards: 0, miners: FLEET_MINERS, fleet: { families: [f.family], onOff: f.onOff }, stepMs,
      config: { control, meter: { tcp: '127.0.0.1:1', poll_ms: pollMs, stale_ms: Math.max(5000, pollMs * 5) } },
    });
    fleets.push({ ...figures(f.name, f.about, r, Date.now() - wall), miners: FLEET_MINERS, family: f.family });
    log(`${f.name}: ${durationS} s in ${Date.now() - wall} ms`);
  }
  return { scenario: scenario.name, durationS, boards, chips, stepMs, hashflexPollMs: pollMs, policies: out, fleets };
}

/** three ~3.1 kW miners against the scenario's ~9 kW peak surplus, as the boards above are sized */
const FLEET_MINERS = 3;
const FLEETS: { name: string; family: 'braiins' | 'luxos' | 'vnish'; onOff: boolean; about: string }[] = [
  { name: 'braiins power targets', family: 'braiins', onOff: false, about: 'Braiins OS+ SetPowerTarget, 100 W steps from 40 to 120 % of rated' },
  { name: 'luxos profiles', family: 'luxos', onOff: false, about: 'LuxOS profileset, its under-clocked profiles by power' },
  { name: 'vnish presets', family: 'vnish', onOff: false, about: 'VNish power presets' },
  { name: 'on/off only', family: 'braiins', onOff: true, about: 'the same Braiins machines, each only paused or at its rated power' },
];

type Energy = EnergyTotals;

function figures(policy: string, about: string, e: Energy, wallMs: number): SurplusFigures {
  return {
    policy, about,
    surplusKwh: e.surplusKwh, usedKwh: e.usedKwh, minerKwh: e.minerKwh, minerImportKwh: e.minerImportKwh,
    usedShare: e.surplusKwh > 0 ? e.usedKwh / e.surplusKwh : 0,
    importShare: e.minerKwh > 0 ? e.minerImportKwh / e.minerKwh : 0,
    switchings: e.switchings, wallMs,
  };
}

/**
 * The baseline rig: the plant, virtual boards, virtual I/O board and the agent's own board
 * runners (power-up delay, chain start, 6.25 MHz / 100 ms ramp) on a virtual clock, exactly as
 * agent/leap.ts builds them, with `policy` in place of the Site's control core. The energy
 * accounting is leap.ts's, step for step.
 */
export async function runPolicy(
  make: (boards: LoadModel[]) => Policy,
  o: {
    scenario: Scenario; durationS: number; boards: number; chips: number; stepMs: number;
    /** the splitter (default control's splitTarget): lets a profile try another one */
    split?: (targetKw: number, boards: LoadModel[]) => Map<string, number>;
  },
): Promise<Energy & { name: string; about: string }> {
  const clock = new VirtualClock();
  const plant = new Plant();
  const ids = Array.from({ length: o.boards }, (_, i) => `hb${i}`);
  for (const id of ids) {
    const b = simBoard(id, 'bm1366', o.chips);
    b.enabled = false;
    plant.boards.set(id, b);
  }
  const apply = (tS: number) => {
    const p = o.scenario.at(tS);
    plant.hz = p.hz;
    plant.generationKw = p.generationKw;
    plant.baseLoadKw = p.baseLoadKw;
    plant.relayActive = p.relay;
  };
  apply(0);
  const io = new VirtualIo(plant, clock);
  const hw = ids.map((id) => new VirtualBoard(plant.boards.get(id)!, 'bm1366', clock));
  // the same board models the agent's Site builds (agent/site.ts): same split step
  const models: LoadModel[] = hw.map(hashboardLoad);
  const policy = make(models);
  const quiet = logger('bench');
  const runners = hw.map((b) => new BoardRunner(b, io, true, clock, quiet, () => {}));
  await io.start();
  for (const r of runners) void r.shed();
  const meter = new VirtualMeter(plant, clock, policy.periodMs);
  meter.on('sample', (s: { at: number; kw: number }) => {
    const minersKw = hw.reduce((sum, b) => sum + b.status().kw, 0);
    const targets = (o.split ?? splitTarget)(policy.decide(s.at, s.kw, minersKw), models);
    for (const r of runners) r.target = targets.get(r.board.id) ?? 0;
  });
  await meter.start();

  const tally = new EnergyTally(plant);
  for (let ms = 0; ms < o.durationS * 1000; ms += o.stepMs) {
    apply(ms / 1000);
    clock.advance(o.stepMs);
    plant.tick(o.stepMs);
    await new Promise((res) => setImmediate(res));
    tally.step(o.stepMs);
  }
  await meter.stop();
  await io.close();
  for (const b of hw) await b.close();
  return { ...tally.totals(), name: policy.name, about: policy.about };
}
