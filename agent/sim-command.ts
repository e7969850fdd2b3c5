import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { args, UsageError } from './cli-args';
import { validateConfig } from './config';
import type { TelemetryBody } from './telemetry';
import { builtinScenario, builtinScenarios } from '../sim/scenarios/builtin';
import { loadScenarioFile, ScenarioError } from '../sim/scenarios/file';
import type { Scenario } from '../sim/scenarios/types';
import { fleetPlan, MAX_FLEET, type Family } from '../sim/miners/fleet';
import { SimSite, siteMaxKw } from '../sim/site';
import { incompleteNote, writeReport } from '../sim/report/html';
import { Progress } from '../sim/report/progress';
import { exitCode, summarize, tally, type RunLog, type Summary } from '../sim/report/summary';
import { openAdrLine } from '../sim/report/openadr';
import { clock } from '../sim/report/svg';
import { WireRun } from '../sim/report/wire-run';
import { VtnTrack } from '../sim/openadr-rig';

/** the agent's id in the simulated site's config (sim/site.ts agentConfig) */
const SIM_AGENT = 'sim-board';
/** the simulated hashboards' chips (sim/site.ts and the time-leap rig alike) */
const CHIPS = 100;
/** a scenario's simulated VTN and the VEN's webhook listener: loopback addresses of their own (127.31.0.0/16) */
const VTN_HOST = '127.31.0.1';
const VEN_NOTIFY_HOST = '127.31.0.2';

/**
 * `hashflex sim`: the simulated site and the real agent, end to end.
 *  --speed 1 (default): the real-wire rig in real time (meter on Modbus TCP, boards and I/O board on
 *    ptys, controller over WebSocket, agent in-process; sim/site.ts).
 *  --speed X > 1 or max: the time-leap rig (agent/leap.ts), X times real time or as fast as it goes.
 * Both run the scenario's command and fault tracks, record the run and check its expectations;
 * --report writes the HTML report and its JSON summary. Exit code: sim/report/summary.ts exitCode
 * (1 when an expectation failed, or when the run was stopped before the scenario could show one).
 * With --hardware-only, just the hardware. --miners N adds network miners of the firmware
 * families in turn (sim/miners/fleet.ts; a scenario may name its families): on loopback addresses of their own on the real wires,
 * as in-process stand-ins in the time-leap rig.
 *
 * SIGINT and SIGTERM are caught from the first line on, before anything is started: a signal during
 * start-up lets the step under way finish, then everything started so far is closed (socat
 * processes, servers, the run's temp folder) and the command exits 1 without running.
 */
export async function simCommand(argv: string[]): Promise<number> {
  const stop = new Stop();
  try {
    return await sim(argv, stop);
  } finally {
    stop.dispose();
  }
}

async function sim(argv: string[], stop: Stop): Promise<number> {
  const { values } = args(argv, {
    // default: demo; quiet with --hardware-only (a commissioning check wants a site that holds still)
    scenario: { type: 'string' },
    // default: the scenario's site (4 boards and no network miners unless it says otherwise)
    boards: { type: 'string' },
    miners: { type: 'string' },
    speed: { type: 'string', default: '1' },
    duration: { type: 'string' },
    report: { type: 'string' },
    seed: { type: 'string' },
    'poll-ms': { type: 'string' },
    'hardware-only': { type: 'boolean', default: false },
    out: { type: 'string' },
  });
  const minersArg = values.miners === undefined ? undefined : Number(values.miners);
  if (minersArg !== undefined && !(Number.isInteger(minersArg) && minersArg >= 0 && minersArg <= MAX_FLEET)) throw new UsageError(`--miners must be an integer 0..${MAX_FLEET}`);
  const boardsArg = values.boards === undefined ? undefined : Number(values.boards);
  if (boardsArg !== undefined && !(Number.isInteger(boardsArg) && boardsArg >= 0 && boardsArg <= 64)) throw new UsageError('--boards must be an integer 0..64 (0 only with --miners)');
  const seed = values.seed === undefined ? undefined : Number(values.seed);
  if (seed !== undefined && !Number.isSafeInteger(seed)) throw new UsageError('--seed must be an integer');
  const speedArg = values.speed as string;
  const speed = speedArg === 'max' ? Infinity : Number(speedArg);
  if (!(speed >= 1)) throw new UsageError('--speed must be 1 (real time, real wires), a number > 1 or "max" (time-leap rig)');
  const duration = values.duration === undefined ? undefined : Number(values.duration);
  if (duration !== undefined && !(duration > 0 && Number.isFinite(duration))) throw new UsageError('--duration must be a number of seconds > 0');
  const pollMs = values['poll-ms'] === undefined ? undefined : Number(values['poll-ms']);
  if (pollMs !== undefined && !(Number.isInteger(pollMs) && pollMs >= 10 && pollMs <= 60_000)) throw new UsageError('--poll-ms must be an integer 10..60000');

  let scenario: Scenario;
  try {
    scenario = resolveScenario((values.scenario as string | undefined) ?? (values['hardware-only'] ? 'quiet' : 'demo'), seed);
  } catch (e) {
    if (!(e instanceof ScenarioError)) throw e;
    process.stderr.write(`${e.message}\n`);
    return 2;
  }
  const boards = boardsArg ?? scenario.site?.boards ?? 4;
  const miners = minersArg ?? scenario.site?.miners ?? 0;
  if (boards === 0 && miners === 0) throw new UsageError('--boards 0 needs --miners N: a site needs at least one board or miner');

  const families = scenario.site?.families;
  const minerIds = fleetPlan(miners, families).map((m) => m.id);
  for (const f of scenario.faults ?? []) {
    if (f.kind === 'board-garbage') {
      const i = f.target === undefined ? 0 : Number(/^hb(\d+)$/.exec(f.target)?.[1] ?? NaN);
      if (!(i < boards)) throw new UsageError(`scenario fault ${f.kind} at ${f.atS} s targets ${f.target ?? 'hb0'}, but the site has ${boards ? `boards hb0..hb${boards - 1}` : 'no boards'}`);
    } else if (f.kind === 'miner-down' && !minerIds.includes(f.target ?? '')) {
      throw new UsageError(`scenario fault ${f.kind} at ${f.atS} s targets ${f.target}, but the site has ${miners ? `miners ${describeIds(minerIds)} (--miners ${miners})` : 'no network miners (--miners N)'}`);
    }
  }
  const site = { boards, miners, families };

  if (values['hardware-only']) {
    if (!values.out) throw new UsageError('--hardware-only needs --out DIR');
    if (speed !== 1 || values.report !== undefined) throw new UsageError('--hardware-only runs in real time and writes no report');
    return hardwareOnly(path.resolve(values.out as string), scenario, site, stop, duration);
  }
  const report = values.report as string | undefined;
  if (speed > 1 && scenario.openadr) {
    // its VTN is real HTTP on real timers: leaping the agent's clock would outrun it
    throw new UsageError(`scenario ${scenario.name} has OpenADR events at a simulated VTN (real HTTP, real time): run it with --speed 1`);
  }
  if (speed > 1) return leapSite(scenario, site, duration, speed, stop, report, pollMs);
  return fullSite(scenario, site, duration, stop, report);
}

interface SiteSize {
  boards: number;
  miners: number;
  /** the scenario's firmware families (default every family, in turn) */
  families?: readonly Family[];
}

/** "am0, wm0, av0, … av2" */
function describeIds(ids: string[]): string {
  return ids.length <= 6 ? ids.join(', ') : `${ids.slice(0, 3).join(', ')}, … ${ids.at(-1)}`;
}

/** "4 boards", "2 boards and 9 network miners (3 antminer, 3 whatsminer, 3 avalon)" */
function describeSite(s: SiteSize): string {
  const boards = `${s.boards} board${s.boards === 1 ? '' : 's'}`;
  if (!s.miners) return boards;
  const fam = new Map<string, number>();
  for (const m of fleetPlan(s.miners, s.families)) fam.set(m.family, (fam.get(m.family) ?? 0) + 1);
  return `${boards} and ${s.miners} network miner${s.miners === 1 ? '' : 's'} (${[...fam].map(([f, n]) => `${n} ${f}`).join(', ')})`;
}

/** a built-in name, or a scenario file (CSV, JSON or YAML) */
function resolveScenario(arg: string, seed?: number): Scenario {
  const builtin = builtinScenario(arg, seed);
  if (builtin) return builtin;
  if (fs.existsSync(arg) || /[/\\]|\.(csv|json|ya?ml)$/i.test(arg)) return loadScenarioFile(arg, seed);
  throw new UsageError(`unknown scenario "${arg}" (built in: ${Object.keys(builtinScenarios).join(', ')}; or a .csv / .json file)`);
}

async function hardwareOnly(dir: string, scenario: Scenario, size: SiteSize, stop: Stop, duration?: number): Promise<number> {
  // SIGINT/SIGTERM end this mode, also during start-up: what started is closed again, exit 0
  const site = await SimSite.start({ dir, boards: size.boards, miners: size.miners, families: size.families, chips: CHIPS, scenario });
  try {
    if (stop.requested) return 0;
    const { simJson, agentYaml } = site.writeFiles();
    if (site.transport === 'tcp') process.stdout.write('socat not found: serial devices are served over raw TCP instead of ptys\n');
    const where = site.fleet?.miners.length ? `; miners on ${site.fleet.miners[0].host}…${site.fleet.miners.at(-1)!.host}` : '';
    process.stdout.write(`simulated hardware up (${describeSite(size)}, scenario ${scenario.name}${where}): ${simJson}\nrun the agent with: hashflex run -c ${agentYaml}\n`);
    await stop.until(duration);
    return 0;
  } finally {
    await site.close();
  }
}

/**
 * The time-leap rig with the wire rig's agent settings (sim/site.ts agentConfig), except the meter
 * poll: 50 ms as on the wire for runs up to an hour, 1000 ms beyond (a day polled every 50 ms
 * takes minutes even in virtual time); --poll-ms sets it.
 */
async function leapSite(scenario: Scenario, size: SiteSize, duration: number | undefined, speed: number, stop: Stop, report?: string, pollArg?: number): Promise<number> {
  const durationS = duration ?? scenario.durationS;
  const pollMs = pollArg ?? (durationS <= 3600 ? 50 : 1000);
  const nominal = scenario.nominalHz ?? 60;
  const pacing = speed === Infinity ? 'time-leap, as fast as possible' : `time-leap at ×${speed}`;
  // the log goes to a file before the agent's modules load: its lines would break the progress bar
  const logs = routeLogs();
  process.stdout.write(`hashflex sim: ${describeSite(size)}, scenario ${scenario.name} (${scenario.description}); ${pacing}, meter polled every ${pollMs} ms\nlogs: ${logs}\n`);
  const { runLeap } = require('./leap') as typeof import('./leap');
  if (stop.requested) return stoppedInStartUp();
  const progress = new Progress(durationS);
  const wall0 = Date.now();
  const r = await runLeap({
    scenario, durationS, boards: size.boards, miners: size.miners, fleet: { families: size.families }, chips: CHIPS, record: true, speed: speed === Infinity ? undefined : speed, signal: stop.signal,
    config: {
      meter: { tcp: '127.0.0.1:1', poll_ms: pollMs, stale_ms: Math.max(1000, 5 * pollMs) },
      grid: { nominal_hz: nominal, underfrequency: { trip_hz: nominal - 0.3, sustain_ms: 100, release: 'auto', hold_s: 10 } },
      control: { mode: 'surplus', max_kw: siteMaxKw(size.boards, CHIPS, fleetPlan(size.miners, size.families)), margin_kw: 0.2 },
    },
    onSecond: (t, site) => progress.update(t, `${site.controller.state.padEnd(9)} miners ${site.minersKw().toFixed(2)} kW`),
  });
  progress.update(r.durationS, stop.requested ? 'stopped' : '');
  progress.done();
  const log = r.log!;
  log.endedBy = stop.requested ? 'signal' : duration !== undefined ? 'duration' : 'scenario';
  return finish(log, report, { pacing, wallS: (Date.now() - wall0) / 1000 });
}

async function fullSite(scenario: Scenario, size: SiteSize, duration: number | undefined, stop: Stop, report?: string): Promise<number> {
  const logs = routeLogs();
  process.stdout.write(`hashflex sim: ${describeSite(size)}, scenario ${scenario.name} (${scenario.description}); real time, real wires\nlogs: ${logs}\n`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hashflex-sim-'));
  let site: SimSite | undefined;
  let run: WireRun | undefined;
  let agent: { stop(): Promise<void> } | undefined;
  let vtn: VtnTrack | undefined;
  let log: RunLog | undefined;
  const wall0 = Date.now();
  try {
    // every step of the start-up is awaited whole, then the stop request looked at: what has
    // started is in hand, and the finally below closes it
    site = await SimSite.start({ dir, boards: size.boards, miners: size.miners, families: size.families, chips: CHIPS, scenario, controller: true, token: 'sim-controller-token', controllerKeep: 600 });
    if (stop.requested) return stoppedInStartUp();
    if (scenario.openadr) vtn = await VtnTrack.start(scenario.openadr, VTN_HOST, () => site!.elapsedS);
    if (stop.requested) return stoppedInStartUp();
    const notifyListen = scenario.openadr?.notify ? `${VEN_NOTIFY_HOST}:${await freePort(VEN_NOTIFY_HOST)}` : undefined;
    const { agentYaml } = site.writeFiles({ local: `127.0.0.1:${await freePort()}`, ...(vtn ? { openadr: vtn.agentSection(notifyListen) } : {}) });
    const config = validateConfig((require('yaml') as typeof import('yaml')).parse(fs.readFileSync(agentYaml, 'utf8')), agentYaml);
    const { startAgent } = require('./main') as typeof import('./main');
    if (stop.requested) return stoppedInStartUp();
    if (site.transport === 'tcp') process.stdout.write('socat not found: serial devices are served over raw TCP instead of ptys\n');
    const openadr = vtn && config.openadr ? { track: vtn, simpleLevels: config.openadr.simple_levels, maxPrice: config.openadr.max_price } : undefined;
    run = new WireRun({ site, scenario, agentId: config.agent.id, tripHz: config.grid.underfrequency.trip_hz, maxKw: config.control.max_kw, ...(openadr ? { openadr } : {}) });
    agent = await startAgent(config);
    if (stop.requested) return stoppedInStartUp();
    process.stdout.write(`dashboard: http://${config.local!.listen}/  (Ctrl-C to stop)\n`);
    const status = new StatusLine(site);
    const endedBy = await stop.until(duration === undefined ? undefined : Math.max(0, duration - site.elapsedS));
    status.stop();
    log = await run.finish();
    log.endedBy = endedBy;
  } catch (e) {
    // a Ctrl-C on a terminal reaches socat too: a start-up that fails under it was stopped, not broken
    if (stop.requested && !log) return stoppedInStartUp();
    throw e;
  } finally {
    if (!log) await run?.finish();
    await agent?.stop();
    // after the agent: its VEN's last requests find the VTN still there
    await vtn?.close().catch((e: Error) => process.stderr.write(`hashflex sim: ${e.message}\n`));
    await site?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return finish(log, report, { pacing: 'real time', wallS: (Date.now() - wall0) / 1000 });
}

function stoppedInStartUp(): number {
  process.stdout.write('hashflex sim: stopped during start-up; nothing was run (exit 1)\n');
  return 1;
}

/**
 * Where this run's logs go: HASHFLEX_LOG_FILE when the user set it; otherwise a file of the run's
 * own, `$TMPDIR/hashflex-sim-YYYYMMDD-HHMMSS-PID.log` (two runs never share one), kept after the
 * run for a look. The logger binds its destination when agent/log.ts first loads, so the file is
 * set up here, before the rigs load the agent. Run in-process after the logger loaded (the test
 * suites), the logs stay where the process already sends them.
 */
function routeLogs(): string {
  const given = process.env.HASHFLEX_LOG_FILE;
  if (given) return given;
  if (Object.keys(require.cache).some((k) => /[\\/]agent[\\/]log\.[jt]s$/.test(k))) return 'stderr (this process\'s logger was already set up)';
  const d = new Date();
  const p2 = (n: number) => String(n).padStart(2, '0');
  const stamp = `${d.getFullYear()}${p2(d.getMonth() + 1)}${p2(d.getDate())}-${p2(d.getHours())}${p2(d.getMinutes())}${p2(d.getSeconds())}`;
  const file = path.join(os.tmpdir(), `hashflex-sim-${stamp}-${process.pid}.log`);
  process.env.HASHFLEX_LOG_FILE = file;
  try {
    require('./log');
  } finally {
    // bound now; children and later in-process runs must not inherit the path
    delete process.env.HASHFLEX_LOG_FILE;
  }
  return file;
}

/** Summary on stdout, the report if asked for; the exit code (summary.ts exitCode). */
function finish(log: RunLog, report: string | undefined, meta: { pacing: string; wallS: number }): number {
  const s = summarize(log);
  process.stdout.write(describe(s));
  if (report) {
    const { html, json } = writeReport(report, s, log, meta);
    process.stdout.write(`report: ${html} (summary: ${json})\n`);
  }
  return exitCode(s);
}

function describe(s: Summary): string {
  const e = s.energy;
  const lines = [
    `${s.scenario.name}: ${clock(s.duration_s, true)} simulated; usable surplus used ${e.usable_used_pct} % (${e.used_kwh} of ${e.usable_kwh} kWh; ${e.surplus_used_pct} % of all surplus), miner-caused import ${e.miner_import_pct} %`,
    `trips: ${s.trips.length ? s.trips.map((t) => `${t.source} at ${clock(t.t_s, true)}${t.from_signal_ms !== undefined ? ` (${t.from_signal_ms} ms after the signal)` : ''}`).join(', ') : 'none'}`,
  ];
  if (s.network_miners) lines.push(minersLine(s));
  if (s.openadr_events) lines.push(openAdrLine(s.openadr_events));
  if (s.faults.length) lines.push(`faults: ${s.faults.map((f) => `${f.kind}${f.target ? ` ${f.target}` : ''} at ${clock(f.t_s, true)} (${f.seen.length ? f.seen.join('; ') : 'not noticed'})`).join(', ')}`);
  if (s.expectations.length) {
    lines.push('expectations:');
    for (const x of s.expectations) lines.push(`  ${x.result === 'pass' ? 'pass' : x.result === 'fail' ? 'FAIL' : 'not reached'}  ${x.expect}: ${x.measured}`);
  }
  lines.push(resultLine(s));
  return `${lines.join('\n')}\n`;
}

/** one line on the network miners' response to the curtails (the report has the table) */
function minersLine(s: Summary): string {
  const ms = s.network_miners ?? [];
  const worst = (f: (c: NonNullable<Summary['network_miners']>[number]['curtails'][number]) => number | null) => {
    let w: { id: string; v: number } | undefined;
    for (const m of ms) for (const c of m.curtails) { const v = f(c); if (v !== null && (!w || v > w.v)) w = { id: m.id, v }; }
    return w;
  };
  const stop = worst((c) => c.stop_accepted_ms);
  const gone = worst((c) => (c.asleep ? null : c.power_gone_s));
  const curtails = ms[0]?.curtails.length ?? 0;
  const parts = [`${ms.length} network miner${ms.length === 1 ? '' : 's'}`];
  if (!curtails) parts.push('no curtail sent');
  else {
    parts.push(stop ? `slowest stop accepted ${stop.v} ms after the curtail (${stop.id})` : 'no stop seen');
    if (gone) parts.push(`slowest power gone after ${gone.v} s (${gone.id})`);
    for (const x of s.settled ?? []) parts.push(`agent: ${x.ok ? 'settled' : 'not settled'} ${(x.ms / 1000).toFixed(1)} s after the ${x.source} trip`);
  }
  return `miners: ${parts.join('; ')}`;
}

/** the last line of the summary: the verdict, and for an incomplete run why and what it exits */
export function resultLine(s: Summary): string {
  const n = tally(s);
  switch (s.verdict) {
    case 'none': return 'result: no expectations declared';
    case 'pass': return `result: PASS (${n.total} of ${n.total} expectations)`;
    case 'fail': return `result: FAIL (${n.failed} of ${n.total} expectations failed${n.notReached ? `, ${n.notReached} not reached` : ''})`;
    case 'incomplete': return `result: INCOMPLETE (${incompleteNote(s)}${exitCode(s) === 0 ? '; nothing failed, exit 0' : '; exit 1'})`;
  }
}

/** One line of live status, redrawn in place on a terminal, every few seconds otherwise. */
class StatusLine {
  private timer: NodeJS.Timeout;
  private trips = 0;
  constructor(private readonly site: SimSite) {
    site.controller?.on('event', (e: { kind: string }) => { if (e.kind === 'trip') this.trips++; });
    const tty = process.stdout.isTTY;
    this.timer = setInterval(() => this.draw(tty), tty ? 500 : 5000);
  }

  draw(tty: boolean): void {
    const t = this.site.controller?.latest() as TelemetryFrame | undefined;
    const s = Math.floor(this.site.elapsedS);
    const clock = `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
    const line = t
      ? `${clock}  grid ${t.grid.hz.toFixed(3)} Hz ${fmtKw(t.grid.kw)} | miners ${t.miners.kw.toFixed(2)} kW (target ${t.miners.target_kw.toFixed(2)}) | ${t.state.padEnd(9)} | boards on ${t.boards.filter((b) => b.on).length}/${t.boards.length} | trips ${this.trips}`
      : `${clock}  waiting for the agent's first telemetry…`;
    const nm = t?.network_miners;
    const withMiners = t && nm?.length ? `${line} | miners on ${nm.filter((m) => m.on).length}/${nm.length}${nm.some((m) => m.fault) ? ` (${nm.filter((m) => m.fault).length} faulted)` : ''}` : line;
    process.stdout.write(tty ? `\r\x1b[2K${withMiners}` : `${withMiners}\n`);
  }

  stop(): void {
    clearInterval(this.timer);
    this.draw(false);
  }
}

type TelemetryFrame = TelemetryBody & { seq: number };

function fmtKw(kw: number): string {
  return `${kw >= 0 ? 'import' : 'export'} ${Math.abs(kw).toFixed(2)} kW`;
}

/** a free loopback port, for the dashboard and the VEN's webhook listener (the config wants a real port number) */
function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * SIGINT and SIGTERM for the whole command. The handlers go in first, so a signal at any point
 * (start-up included) never takes Node's default (exit at once, children and temp folder left
 * behind); they stay until the command has cleaned up, so a second Ctrl-C cannot cut that short.
 */
class Stop {
  private readonly ac = new AbortController();
  readonly signal = this.ac.signal;
  private readonly onSignal = () => this.ac.abort();

  constructor() {
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
  }

  get requested(): boolean {
    return this.signal.aborted;
  }

  /** until a signal (`signal`) or, if given, durationS seconds (`duration`) */
  until(durationS?: number): Promise<'signal' | 'duration'> {
    if (this.requested) return Promise.resolve('signal');
    return new Promise((resolve) => {
      const timer = durationS === undefined ? undefined : setTimeout(() => { this.signal.removeEventListener('abort', onAbort); resolve('duration'); }, durationS * 1000);
      const onAbort = () => { clearTimeout(timer); resolve('signal'); };
      this.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  dispose(): void {
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
  }
}
