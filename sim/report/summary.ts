import type { Expectation, Scenario } from '../scenarios/types';
import type { Recorder } from './recorder';
import type { SignalWatch } from './signals';

/**
 * What a run leaves behind (RunLog, filled by either rig) and the JSON summary made of it:
 * energy, trips, commands, faults and pass/fail per declared expectation. The summary holds no
 * wall-clock figure, so the same scenario and seed give the same summary in the time-leap rig.
 */
export interface TripSeen {
  tS: number;
  source: string;
  /** as the agent reports it: signal received -> every board off */
  latencyMs: number;
}

export interface ControlSeen {
  tS: number;
  kind: string;
  source: string;
  detail?: string;
}

export interface CommandSent {
  tS: number;
  action: string;
  kw?: number;
  ttlS?: number;
  /** false when the controller could not reach the agent (an outage) */
  delivered: boolean;
  ok?: boolean;
  error?: string;
}

export interface FaultRun {
  kind: string;
  target?: string;
  atS: number;
  untilS: number;
  /** how the agent showed it noticed: trips, fault events, link counters */
  seen: string[];
}

export interface RunLog {
  rig: 'leap' | 'wire';
  scenario: Scenario;
  durationS: number;
  boards: string[];
  tripHz: number;
  recorder: Recorder;
  signals: SignalWatch;
  trips: TripSeen[];
  control: ControlSeen[];
  commands: CommandSent[];
  faults: FaultRun[];
}

export interface ExpectationResult {
  expect: string;
  /** `not reached`: the run stopped before the scenario could show it (a shorter --duration, Ctrl-C) */
  result: 'pass' | 'fail' | 'not reached';
  measured: string;
}

export interface Summary {
  scenario: { name: string; description: string; seed: number | null; nominal_hz: number };
  rig: 'leap' | 'wire';
  duration_s: number;
  boards: number;
  energy: {
    surplus_kwh: number; usable_kwh: number; used_kwh: number; miner_kwh: number; miner_import_kwh: number;
    /** used / surplus */
    surplus_used_pct: number;
    /** used / surplus the miners could take (their capacity): what "surplus used" expectations check */
    usable_used_pct: number;
    /** miner-caused import / miner energy */
    miner_import_pct: number;
  };
  trips: { t_s: number; source: string; latency_ms: number; signal_t_s?: number; from_signal_ms?: number }[];
  commands: { t_s: number; action: string; kw?: number; ttl_s?: number; delivered: boolean; ok?: boolean; error?: string }[];
  faults: { kind: string; target?: string; t_s: number; until_s: number; seen: string[] }[];
  events: { t_s: number; kind: string; source: string; detail?: string }[];
  expectations: ExpectationResult[];
  pass: boolean;
}

const r = (x: number, d = 3) => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : 0);
const pct = (a: number, b: number) => (b > 0 ? r((100 * a) / b, 2) : 0);

export function summarize(log: RunLog): Summary {
  const e = log.recorder.energy;
  const sourceOf = (tS: number, source: string) => signalBefore(log, tS, source);
  const expectations = (log.scenario.expect ?? []).map((x) => check(x, log));
  const s: Summary = {
    scenario: { name: log.scenario.name, description: log.scenario.description, seed: log.scenario.seed ?? null, nominal_hz: log.scenario.nominalHz ?? 60 },
    rig: log.rig,
    duration_s: r(log.durationS),
    boards: log.boards.length,
    energy: {
      surplus_kwh: r(e.surplusKwh, 4), usable_kwh: r(e.usableKwh, 4), used_kwh: r(e.usedKwh, 4), miner_kwh: r(e.minerKwh, 4), miner_import_kwh: r(e.minerImportKwh, 4),
      surplus_used_pct: pct(e.usedKwh, e.surplusKwh), usable_used_pct: Math.min(100, pct(e.usedKwh, e.usableKwh)), miner_import_pct: pct(e.minerImportKwh, e.minerKwh),
    },
    trips: log.trips.map((t) => {
      const sig = sourceOf(t.tS, t.source);
      return { t_s: r(t.tS), source: t.source, latency_ms: r(t.latencyMs, 2), ...(sig !== undefined ? { signal_t_s: r(sig), from_signal_ms: r((t.tS - sig) * 1000, 1) } : {}) };
    }),
    commands: log.commands.map((c) => ({
      t_s: r(c.tS), action: c.action, ...(c.kw !== undefined ? { kw: c.kw, ttl_s: c.ttlS } : {}), delivered: c.delivered,
      ...(c.ok !== undefined ? { ok: c.ok } : {}), ...(c.error ? { error: c.error } : {}),
    })),
    faults: log.faults.map((f) => ({ kind: f.kind, ...(f.target ? { target: f.target } : {}), t_s: r(f.atS), until_s: r(f.untilS), seen: f.seen })),
    events: log.control.map((c) => ({ t_s: r(c.tS), kind: c.kind, source: c.source, ...(c.detail ? { detail: c.detail } : {}) })),
    expectations,
    pass: expectations.every((x) => x.result !== 'fail'),
  };
  return s;
}

/** the signal a trip answered: the last matching edge before it (within 10 s) */
function signalBefore(log: RunLog, tS: number, source: string): number | undefined {
  let edges: number[] = [];
  if (source === 'underfrequency') edges = log.signals.falls.get(log.tripHz) ?? [];
  else if (source === 'relay') edges = log.signals.relayCloses;
  else if (source === 'command') edges = log.commands.filter((c) => c.action === 'curtail' && c.delivered).map((c) => c.tS);
  const before = edges.filter((x) => x <= tS + 1e-9 && tS - x < 10);
  return before.at(-1);
}

/** Does the run meet one expectation? `measured` says what was seen, pass or fail. */
function check(x: Expectation, log: RunLog): ExpectationResult {
  // evidence that may still come later in the scenario is "not reached" in a cut-short run
  const cut = log.durationS < log.scenario.durationS - 1e-6;
  const res = (pass: boolean, measured: string, later = false): ExpectationResult =>
    ({ expect: x.text, result: pass ? 'pass' : later && cut ? 'not reached' : 'fail', measured });
  const e = log.recorder.energy;
  switch (x.kind) {
    case 'trip-within': {
      const [edges, source] = x.signal === 'relay'
        ? [log.signals.relayCloses, 'relay']
        : x.signal === 'curtail'
          ? [log.commands.filter((c) => c.action === 'curtail' && c.delivered).map((c) => c.tS), 'command']
          : [falls(log, x.signal.hz), 'underfrequency'];
      if (!edges.length) return res(false, x.signal === 'curtail' ? 'no curtail command was delivered' : 'the signal never happened in this run', true);
      const worst = Math.max(...edges.map((t0) => {
          const next = log.trips.find((t) => t.source === source && t.tS >= t0 - 1e-6);
        return next ? (next.tS - t0) * 1000 : Infinity;
      }));
      const n = edges.length;
      if (worst === Infinity) return res(false, `${n} signal${n > 1 ? 's' : ''}; no ${source} trip followed ${n > 1 ? 'one of them' : 'it'}`);
      return res(worst <= x.ms, `${n} signal${n > 1 ? 's' : ''}, slowest all-off ${r(worst, 1)} ms after the signal`);
    }
    case 'no-trip': {
      const bad = log.trips.filter((t) => !x.source || t.source === x.source);
      return res(bad.length === 0, bad.length ? `${bad.length} trip${bad.length > 1 ? 's' : ''} (${[...new Set(bad.map((t) => t.source))].join(', ')}), first at ${r(bad[0].tS, 1)} s` : 'no trip');
    }
    case 'trip-from': {
      const got = log.trips.filter((t) => t.source === x.source);
      return res(got.length > 0, got.length ? `${got.length} trip${got.length > 1 ? 's' : ''} from ${x.source}, first at ${r(got[0].tS, 1)} s` : `no trip from ${x.source}`, true);
    }
    case 'surplus-used': {
      // boards' idle draw can put "used" a hair over the capacity-capped surplus
      const p = Math.min(100, pct(e.usedKwh, e.usableKwh));
      return res(e.usableKwh === 0 || p >= x.pct, `${p} % of the usable surplus (${r(e.usedKwh, 3)} of ${r(e.usableKwh, 3)} kWh)`);
    }
    case 'miner-import': {
      const p = pct(e.minerImportKwh, e.minerKwh);
      return res(p <= x.pct, `${p} % of the miners' energy (${r(e.minerImportKwh, 4)} of ${r(e.minerKwh, 3)} kWh)`);
    }
    case 'state-at': {
      if (x.atS > log.recorder.endS) return res(false, `the run ended at ${r(log.recorder.endS, 1)} s`, true);
      const st = log.recorder.stateAt(x.atS) ?? 'unknown';
      return res(st === x.state, `${st} at ${x.atS} s`);
    }
  }
}

function falls(log: RunLog, hz: number): number[] {
  return log.signals.falls.get(hz) ?? [];
}

/** the thresholds a scenario's expectations measure from (plus the agent's own trip_hz) */
export function watchedHz(scenario: Scenario, tripHz: number): number[] {
  const hs = new Set([tripHz]);
  for (const x of scenario.expect ?? []) if (x.kind === 'trip-within' && typeof x.signal === 'object') hs.add(x.signal.hz);
  return [...hs];
}

/**
 * What the agent showed during each fault, and up to 5 s after it (detection takes stale_ms, a
 * watchdog; recovery shows after the fault) but not into the next fault. Adds to `seen`.
 */
export function attributeFaults(faults: FaultRun[], trips: TripSeen[], control: ControlSeen[]): void {
  const starts = faults.map((f) => f.atS).sort((a, b) => a - b);
  for (const f of faults) {
    const next = starts.find((t) => t > f.atS) ?? Infinity;
    f.seen.unshift(...faultSeen(f, trips, control, Math.max(0, Math.min(5, next - f.untilS))));
  }
}

function faultSeen(f: { atS: number; untilS: number }, trips: TripSeen[], control: ControlSeen[], graceS: number): string[] {
  const end = f.untilS + graceS;
  // cut short by the next fault: what happens at its start is its own
  const within = (t: number) => t >= f.atS && (graceS < 5 ? t < end : t <= end);
  const out: string[] = [];
  for (const t of trips) if (within(t.tS)) out.push(`trip ${t.source} at ${r(t.tS, 1)} s`);
  for (const c of control) if (within(c.tS) && c.kind !== 'release') out.push(`${c.kind} ${c.source}${c.detail ? ` (${c.detail})` : ''} at ${r(c.tS, 1)} s`);
  return out;
}
