import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { args, UsageError } from './cli';
import { validateConfig } from './config';
import type { TelemetryBody } from './telemetry';
import { builtinScenario, builtinScenarios } from '../sim/scenarios/builtin';
import { loadScenarioFile, ScenarioError } from '../sim/scenarios/file';
import type { Scenario } from '../sim/scenarios/types';
import { SimSite } from '../sim/site';
import { writeReport } from '../sim/report/html';
import { Progress } from '../sim/report/progress';
import { summarize, type RunLog, type Summary } from '../sim/report/summary';
import { clock } from '../sim/report/svg';
import { WireRun } from '../sim/report/wire-run';

/** the agent's id in the simulated site's config (sim/site.ts agentConfig) */
const SIM_AGENT = 'sim-board';
/** the rigs' shared agent settings, as sim/site.ts writes them into agent.yaml */
const MAX_KW = 12;

/**
 * `hashflex sim`: the simulated site and the real agent, end to end.
 *  --speed 1 (default): the real-wire rig in real time (meter on Modbus TCP, boards and I/O board on
 *    ptys, controller over WebSocket, agent in-process; sim/site.ts).
 *  --speed X > 1 or max: the time-leap rig (agent/leap.ts), X times real time or as fast as it goes.
 * Both run the scenario's command and fault tracks, record the run and check its expectations;
 * --report writes the HTML report and its JSON summary. Exit 1 when an expectation fails.
 * With --hardware-only, just the hardware.
 */
export async function simCommand(argv: string[]): Promise<number> {
  const { values } = args(argv, {
    scenario: { type: 'string', default: 'demo' },
    boards: { type: 'string', default: '4' },
    speed: { type: 'string', default: '1' },
    duration: { type: 'string' },
    report: { type: 'string' },
    seed: { type: 'string' },
    'poll-ms': { type: 'string' },
    'hardware-only': { type: 'boolean', default: false },
    out: { type: 'string' },
  });
  const boards = Number(values.boards);
  if (!Number.isInteger(boards) || boards < 1 || boards > 64) throw new UsageError('--boards must be an integer 1..64');
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
    scenario = resolveScenario(values.scenario as string, seed);
  } catch (e) {
    if (!(e instanceof ScenarioError)) throw e;
    process.stderr.write(`${e.message}\n`);
    return 2;
  }

  for (const f of scenario.faults ?? []) {
    const i = f.target === undefined ? 0 : Number(/^hb(\d+)$/.exec(f.target)?.[1] ?? NaN);
    if (!(i < boards)) throw new UsageError(`scenario fault ${f.kind} at ${f.atS} s targets ${f.target}, but the site has boards hb0..hb${boards - 1}`);
  }

  if (values['hardware-only']) {
    if (!values.out) throw new UsageError('--hardware-only needs --out DIR');
    if (speed !== 1 || values.report !== undefined) throw new UsageError('--hardware-only runs in real time and writes no report');
    return hardwareOnly(path.resolve(values.out as string), scenario, boards, duration);
  }
  const report = values.report as string | undefined;
  if (speed > 1) return leapSite(scenario, boards, duration ?? scenario.durationS, speed, report, pollMs);
  return fullSite(scenario, boards, duration, report);
}

/** a built-in name, or a scenario file (CSV, JSON or YAML) */
function resolveScenario(arg: string, seed?: number): Scenario {
  const builtin = builtinScenario(arg, seed);
  if (builtin) return builtin;
  if (fs.existsSync(arg) || /[/\\]|\.(csv|json|ya?ml)$/i.test(arg)) return loadScenarioFile(arg, seed);
  throw new UsageError(`unknown scenario "${arg}" (built in: ${Object.keys(builtinScenarios).join(', ')}; or a .csv / .json file)`);
}

async function hardwareOnly(dir: string, scenario: Scenario, boards: number, duration?: number): Promise<number> {
  const site = await SimSite.start({ dir, boards, scenario });
  const { simJson, agentYaml } = site.writeFiles();
  if (site.transport === 'tcp') process.stdout.write('socat not found: serial devices are served over raw TCP instead of ptys\n');
  process.stdout.write(`simulated hardware up (${boards} boards, scenario ${scenario.name}): ${simJson}\nrun the agent with: hashflex run -c ${agentYaml}\n`);
  await untilStopped(duration);
  await site.close();
  return 0;
}

/**
 * The time-leap rig with the wire rig's agent settings (sim/site.ts agentConfig), except the meter
 * poll: 50 ms as on the wire for runs up to an hour, 1000 ms beyond (a day polled every 50 ms
 * takes minutes even in virtual time); --poll-ms sets it.
 */
async function leapSite(scenario: Scenario, boards: number, durationS: number, speed: number, report?: string, pollArg?: number): Promise<number> {
  const { runLeap } = require('./leap') as typeof import('./leap');
  const pollMs = pollArg ?? (durationS <= 3600 ? 50 : 1000);
  const nominal = scenario.nominalHz ?? 60;
  const pacing = speed === Infinity ? 'time-leap, as fast as possible' : `time-leap at ×${speed}`;
  process.stdout.write(`hashflex sim: ${boards} boards, scenario ${scenario.name} (${scenario.description}); ${pacing}, meter polled every ${pollMs} ms\n`);
  const progress = new Progress(durationS);
  const wall0 = Date.now();
  const r = await runLeap({
    scenario, durationS, boards, chips: 100, record: true, speed: speed === Infinity ? undefined : speed,
    config: {
      meter: { tcp: '127.0.0.1:1', poll_ms: pollMs, stale_ms: Math.max(1000, 5 * pollMs) },
      grid: { nominal_hz: nominal, underfrequency: { trip_hz: nominal - 0.3, sustain_ms: 100, release: 'auto', hold_s: 10 } },
      control: { mode: 'surplus', max_kw: MAX_KW, margin_kw: 0.2 },
    },
    onSecond: (t, site) => progress.update(t, `${site.controller.state.padEnd(9)} miners ${site.minersKw().toFixed(2)} kW`),
  });
  progress.update(durationS);
  progress.done();
  return finish(r.log!, report, { pacing, wallS: (Date.now() - wall0) / 1000 });
}

async function fullSite(scenario: Scenario, boards: number, duration?: number, report?: string): Promise<number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hashflex-sim-'));
  // the run's directory goes when the run ends; the log stays for a look afterwards
  process.env.HASHFLEX_LOG_FILE ??= path.join(os.tmpdir(), 'hashflex-sim.log');
  const site = await SimSite.start({ dir, boards, scenario, controller: true, token: 'sim-controller-token', controllerKeep: 600 });
  let agent: { stop(): Promise<void> } | undefined;
  let log: RunLog | undefined;
  const wall0 = Date.now();
  try {
    const { agentYaml } = site.writeFiles({ local: `127.0.0.1:${await freePort()}` });
    const config = validateConfig((require('yaml') as typeof import('yaml')).parse(fs.readFileSync(agentYaml, 'utf8')), agentYaml);
    const { startAgent } = require('./main') as typeof import('./main');
    if (site.transport === 'tcp') process.stdout.write('socat not found: serial devices are served over raw TCP instead of ptys\n');
    process.stdout.write(`hashflex sim: ${boards} boards, scenario ${scenario.name} (${scenario.description}); logs in ${process.env.HASHFLEX_LOG_FILE}; Ctrl-C to stop\n`);
    const run = new WireRun({ site, scenario, agentId: config.agent.id, tripHz: config.grid.underfrequency.trip_hz, maxKw: config.control.max_kw });
    agent = await startAgent(config);
    process.stdout.write(`dashboard: http://${config.local!.listen}/\n`);
    const status = new StatusLine(site);
    await untilStopped(duration === undefined ? undefined : Math.max(0, duration - site.elapsedS));
    status.stop();
    log = await run.finish();
  } finally {
    await agent?.stop();
    await site.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return finish(log, report, { pacing: 'real time', wallS: (Date.now() - wall0) / 1000 });
}

/** Summary on stdout, the report if asked for; exit 1 when an expectation failed. */
function finish(log: RunLog, report: string | undefined, meta: { pacing: string; wallS: number }): number {
  const s = summarize(log);
  process.stdout.write(describe(s));
  if (report) {
    const { html, json } = writeReport(report, s, log, meta);
    process.stdout.write(`report: ${html} (summary: ${json})\n`);
  }
  return s.pass ? 0 : 1;
}

function describe(s: Summary): string {
  const e = s.energy;
  const lines = [
    `${s.scenario.name}: ${clock(s.duration_s, true)} simulated; usable surplus used ${e.usable_used_pct} % (${e.used_kwh} of ${e.usable_kwh} kWh; ${e.surplus_used_pct} % of all surplus), miner-caused import ${e.miner_import_pct} %`,
    `trips: ${s.trips.length ? s.trips.map((t) => `${t.source} at ${clock(t.t_s, true)}${t.from_signal_ms !== undefined ? ` (${t.from_signal_ms} ms after the signal)` : ''}`).join(', ') : 'none'}`,
  ];
  if (s.faults.length) lines.push(`faults: ${s.faults.map((f) => `${f.kind}${f.target ? ` ${f.target}` : ''} at ${clock(f.t_s, true)} (${f.seen.length ? f.seen.join('; ') : 'not noticed'})`).join(', ')}`);
  if (s.expectations.length) {
    lines.push('expectations:');
    for (const x of s.expectations) lines.push(`  ${x.result === 'pass' ? 'pass' : x.result === 'fail' ? 'FAIL' : 'not reached'}  ${x.expect}: ${x.measured}`);
  }
  return `${lines.join('\n')}\n`;
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
    process.stdout.write(tty ? `\r\x1b[2K${line}` : `${line}\n`);
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

/** a free loopback port, for the dashboard (the config wants a real port number) */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function untilStopped(durationS?: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      clearTimeout(timer);
      resolve();
    };
    const timer = durationS === undefined ? undefined : setTimeout(done, durationS * 1000);
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
}
