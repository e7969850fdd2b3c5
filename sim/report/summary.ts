import type { Expectation, Scenario } from '../scenarios/types';
import type { MinerLog } from './miners';
import { checkObeyed, openAdrResponses, type OpenAdrLog, type OpenAdrResponse } from './openadr';
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

/** the agent's `settled` event: the power gone after a trip (agent/settle.ts) */
export interface SettledSeen {
  tS: number;
  source: string;
  ok: boolean;
  /** trip signal → settled, as the agent measured it */
  ms: number;
  minersKw?: number;
  gridDropKw?: number;
}

export interface RunLog {
  rig: 'leap' | 'wire';
  scenario: Scenario;
  durationS: number;
  boards: string[];
  /** network miners and their response to each curtail (sim/report/miners.ts); absent: none */
  miners?: MinerLog[];
  /** the miners whose power share follows the boards' in the recorder's frames (the report's strip) */
  minerStrip?: string[];
  /** the agent's settled events */
  settled?: SettledSeen[];
  /** the scenario's OpenADR track: its events at the VTN and the controller's figures (wire rig) */
  openadr?: OpenAdrLog;
  tripHz: number;
  recorder: Recorder;
  signals: SignalWatch;
  trips: TripSeen[];
  control: ControlSeen[];
  commands: CommandSent[];
  faults: FaultRun[];
  /**
   * what ended the run (set by the command): the scenario's end (`scenario`, time-leap rig
   * without --duration), --duration elapsing (`duration`), or SIGINT/SIGTERM (`signal`)
   */
  endedBy?: EndedBy;
}

export type EndedBy = 'scenario' | 'duration' | 'signal';

export interface ExpectationResult {
  expect: string;
  /** `not reached`: the run stopped before the scenario could show it (a shorter --duration, Ctrl-C) */
  result: 'pass' | 'fail' | 'not reached';
  measured: string;
}

export interface Summary {
  scenario: { name: string; description: string; seed: number | null; nominal_hz: number; duration_s: number };
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
  /** each network miner's response (only when the site has any) */
  network_miners?: MinerSummary[];
  /** the agent's `settled` events (only when the site has network miners) */
  settled?: { t_s: number; source: string; ok: boolean; ms: number; miners_kw?: number; grid_drop_kw?: number }[];
  /** each OpenADR event of the scenario's track and the site's response (only with a track) */
  openadr_events?: OpenAdrResponse[];
  expectations: ExpectationResult[];
  /**
   * `pass`: every expectation passed over the whole scenario; `fail`: at least one failed;
   * `incomplete`: none failed, but the run ended before the scenario's end (its passes hold for
   * the part run) and may have left expectations `not reached`; `none`: no expectations declared
   */
  verdict: 'pass' | 'fail' | 'incomplete' | 'none';
  /** the verdict is `pass` or `none`: false when an expectation failed or the run is incomplete */
  pass: boolean;
  /** what ended the run: `scenario` (its end), `duration` (--duration elapsed), `signal` (SIGINT/SIGTERM) */
  ended_by: EndedBy;
}

export interface MinerSummary {
  id: string;
  family: string;
  host?: string;
  rated_kw: number;
  /** one per curtail the controller sent: sent at t_s; stop carried out after stop_accepted_ms; power gone (asleep) after power_gone_s */
  curtails: { t_s: number; kw_before: number; asleep: boolean; stop_accepted_ms: number | null; power_gone_s: number | null }[];
  /** faults injected on it and what the agent said about it (fault / recover events, source miner:ID) */
  faults: string[];
}

const r = (x: number, d = 3) => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : 0);
const pct = (a: number, b: number) => (b > 0 ? r((100 * a) / b, 2) : 0);

export function summarize(log: RunLog): Summary {
  const e = log.recorder.energy;
  const sourceOf = (tS: number, source: string) => signalBefore(log, tS, source);
  const expectations = (log.scenario.expect ?? []).map((x) => check(x, log));
  const s: Summary = {
    scenario: {
      name: log.scenario.name, description: log.scenario.description, seed: log.scenario.seed ?? null,
      nominal_hz: log.scenario.nominalHz ?? 60, duration_s: r(log.scenario.durationS),
    },
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
    ...(log.miners?.length ? { network_miners: minerSummaries(log), settled: (log.settled ?? []).map(settledOut) } : {}),
    ...(log.openadr ? { openadr_events: openAdrResponses(log.openadr, log.trips, log.durationS) } : {}),
    expectations,
    verdict: verdictOf(expectations, log.durationS < log.scenario.durationS - 1e-6),
    pass: false,
    ended_by: log.endedBy ?? (log.durationS >= log.scenario.durationS - 1e-6 ? 'scenario' : 'duration'),
  };
  s.pass = s.verdict === 'pass' || s.verdict === 'none';
  return s;
}

/** a run cut short of the scenario's length is incomplete even where all it showed passed */
function verdictOf(xs: ExpectationResult[], cut: boolean): Summary['verdict'] {
  if (xs.length === 0) return 'none';
  if (xs.some((x) => x.result === 'fail')) return 'fail';
  return cut || xs.some((x) => x.result === 'not reached') ? 'incomplete' : 'pass';
}

/**
 * The exit code of `hashflex sim` (README, "Simulator"; the CLI contract keeps 0 ok, 1 runtime
 * failure, 2 bad usage). An expectation not reached is not a pass, so:
 * - 1 when an expectation failed;
 * - 1 when the run is incomplete because it was stopped (SIGINT/SIGTERM) before the scenario
 *   could show an expectation: the run did not do what was asked of it;
 * - 0 when it is incomplete only because --duration asked for less than the scenario's length
 *   and nothing that was reached failed: the short run was asked for (the summary still says
 *   "incomplete");
 * - 0 when every expectation passed, or none is declared.
 */
export function exitCode(s: Summary): 0 | 1 {
  if (s.verdict === 'fail') return 1;
  if (s.verdict === 'incomplete' && s.ended_by === 'signal') return 1;
  return 0;
}

/** counts of a summary's expectations by result, for the summary line and the badge */
export function tally(s: Summary): { passed: number; failed: number; notReached: number; total: number } {
  const n = (r: ExpectationResult['result']) => s.expectations.filter((x) => x.result === r).length;
  return { passed: n('pass'), failed: n('fail'), notReached: n('not reached'), total: s.expectations.length };
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
    case 'miners-stop-within': return checkMinersStop(x, log, res);
    case 'power-gone-within': return checkPowerGone(x, log, res);
    case 'openadr-obeyed-within': {
      if (!log.openadr) return res(false, 'the run had no OpenADR track (the real-wire rig runs one)');
      const v = checkObeyed(openAdrResponses(log.openadr, log.trips, log.durationS), log.trips, x.s, log.durationS);
      // events the scenario creates after the run's end are evidence still to come
      const later = v.later || (log.scenario.openadr?.events.length ?? 0) > log.openadr.events.length;
      return res(v.pass && !later, v.measured, later);
    }
  }
}

function settledOut(x: SettledSeen): NonNullable<Summary['settled']>[number] {
  return {
    t_s: r(x.tS), source: x.source, ok: x.ok, ms: Math.round(x.ms),
    ...(x.minersKw !== undefined ? { miners_kw: r(x.minersKw) } : {}), ...(x.gridDropKw !== undefined ? { grid_drop_kw: r(x.gridDropKw) } : {}),
  };
}

/** at most this many fault lines per miner in the summary */
const MINER_FAULT_LINES = 12;

function minerSummaries(log: RunLog): MinerSummary[] {
  const injected = new Map<string, string[]>();
  for (const f of log.faults) {
    if (f.kind !== 'miner-down' || !f.target) continue;
    injected.set(f.target, [...(injected.get(f.target) ?? []), `${f.kind} ${r(f.atS, 1)}–${r(f.untilS, 1)} s`]);
  }
  const said = new Map<string, string[]>();
  for (const c of log.control) {
    if (!c.source.startsWith('miner:') || (c.kind !== 'fault' && c.kind !== 'recover')) continue;
    const id = c.source.slice('miner:'.length);
    said.set(id, [...(said.get(id) ?? []), `${c.kind} at ${r(c.tS, 1)} s${c.detail ? ` (${c.detail})` : ''}`]);
  }
  return (log.miners ?? []).map((m) => {
    const lines = [...(injected.get(m.id) ?? []), ...(said.get(m.id) ?? [])];
    const faults = lines.length > MINER_FAULT_LINES ? [...lines.slice(0, MINER_FAULT_LINES), `… ${lines.length - MINER_FAULT_LINES} more`] : lines;
    return {
      id: m.id, family: m.family, ...(m.host ? { host: m.host } : {}), rated_kw: r(m.ratedKw),
      curtails: m.curtails.map((c) => ({ t_s: r(c.tS), kw_before: r(c.kwBefore), asleep: c.asleep, stop_accepted_ms: c.stopMs === null ? null : r(c.stopMs, 1), power_gone_s: c.goneS === null ? null : r(c.goneS, 2) })),
      faults,
    };
  });
}

/** the delivered curtails' times, and each miner's record of it */
function curtailRounds(log: RunLog): { tS: number; ack?: { ok?: boolean; error?: string }; miners: { id: string; c: MinerLog['curtails'][number] }[] }[] {
  const delivered = log.commands.filter((c) => c.action === 'curtail' && c.delivered);
  return delivered.map((cmd) => ({
    tS: cmd.tS,
    ack: { ok: cmd.ok, error: cmd.error },
    miners: (log.miners ?? []).flatMap((m) => {
      const c = m.curtails.find((x) => Math.abs(x.tS - cmd.tS) < 1e-6);
      return c ? [{ id: m.id, c }] : [];
    }),
  }));
}

function checkMinersStop(x: Extract<Expectation, { kind: 'miners-stop-within' }>, log: RunLog, res: (pass: boolean, measured: string, later?: boolean) => ExpectationResult): ExpectationResult {
  if (!log.miners?.length) return res(false, 'the site has no network miners');
  const rounds = curtailRounds(log);
  if (!rounds.length) return res(false, 'no curtail command was delivered', true);
  let worst: { ms: number; id: string } | undefined;
  const missing: string[] = [];
  let asleep = 0;
  for (const round of rounds) {
    for (const { id, c } of round.miners) {
      if (c.asleep && c.stopMs === null) { asleep++; continue; }
      if (c.stopMs === null) { missing.push(`${id} at ${r(round.tS, 1)} s`); continue; }
      if (!worst || c.stopMs > worst.ms) worst = { ms: c.stopMs, id };
    }
  }
  const refused = rounds.filter((x) => x.ack?.ok === false);
  const n = rounds.length;
  const parts = [`${n} curtail${n > 1 ? 's' : ''} × ${log.miners.length} miners`];
  if (worst) parts.push(`slowest stop accepted after ${r(worst.ms, 1)} ms (${worst.id})`);
  if (asleep) parts.push(`${asleep} asleep already`);
  if (missing.length) parts.push(`no stop seen: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''}`);
  if (refused.length) parts.push(`ack refused: ${refused.map((x) => x.ack?.error ?? 'not ok').join('; ')}`);
  return res(!missing.length && !refused.length && (worst === undefined || worst.ms <= x.ms), parts.join('; '));
}

function checkPowerGone(x: Extract<Expectation, { kind: 'power-gone-within' }>, log: RunLog, res: (pass: boolean, measured: string, later?: boolean) => ExpectationResult): ExpectationResult {
  if (!log.miners?.length) return res(false, 'the site has no network miners');
  const rounds = curtailRounds(log);
  if (!rounds.length) return res(false, 'no curtail command was delivered', true);
  const problems: string[] = [];
  let slowestAgent = 0;
  let slowest: { s: number; id: string } | undefined;
  let later = false;
  rounds.forEach((round, k) => {
    const next = rounds[k + 1]?.tS ?? Infinity;
    const ev = (log.settled ?? []).find((e) => e.tS >= round.tS - 1e-6 && e.tS < next);
    if (!ev) {
      const cut = log.durationS < round.tS + x.s;
      if (cut) later = true;
      problems.push(`no settled event after the curtail at ${r(round.tS, 1)} s`);
    } else if (!ev.ok) problems.push(`settled ok:false after the curtail at ${r(round.tS, 1)} s (${r(ev.ms / 1000, 2)} s)`);
    else slowestAgent = Math.max(slowestAgent, ev.tS - round.tS);
    for (const { id, c } of round.miners) {
      if (c.asleep) continue;
      if (c.goneS === null) { problems.push(`${id}: still drawing power`); if (log.durationS < round.tS + x.s) later = true; continue; }
      if (!slowest || c.goneS > slowest.s) slowest = { s: c.goneS, id };
    }
  });
  const parts: string[] = [];
  if (slowestAgent > 0) parts.push(`agent settled after ${r(slowestAgent, 2)} s`);
  if (slowest) parts.push(`slowest miner's power gone after ${r(slowest.s, 2)} s (${slowest.id})`);
  parts.push(...problems.slice(0, 5));
  const pass = !problems.length && slowestAgent <= x.s && (slowest === undefined || slowest.s <= x.s);
  return res(pass, parts.join('; ') || 'no miner was drawing power', later);
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
