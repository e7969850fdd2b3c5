import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { args, UsageError } from './cli';
import { validateConfig } from './config';
import type { TelemetryBody } from './telemetry';
import { builtinScenarios } from '../sim/scenarios/builtin';
import type { Scenario } from '../sim/scenarios/types';
import { SimSite } from '../sim/site';

/**
 * `hashflex sim`: the simulated site and the real agent, end to end, in one process (the agent
 * still reaches every device through real ptys / TCP). With --hardware-only, just the hardware.
 */
export async function simCommand(argv: string[]): Promise<number> {
  const { values } = args(argv, {
    scenario: { type: 'string', default: 'demo' },
    boards: { type: 'string', default: '4' },
    speed: { type: 'string', default: '1' },
    duration: { type: 'string' },
    report: { type: 'string' },
    'hardware-only': { type: 'boolean', default: false },
    out: { type: 'string' },
  });
  const boards = Number(values.boards);
  if (!Number.isInteger(boards) || boards < 1 || boards > 64) throw new UsageError('--boards must be an integer 1..64');
  const scenario = builtinScenarios[values.scenario as string];
  if (!scenario) throw new UsageError(`unknown scenario "${values.scenario}" (built in: ${Object.keys(builtinScenarios).join(', ')})`);
  if (Number(values.speed) !== 1) throw new UsageError('--speed other than 1 is not available yet: the simulator runs in real time');
  const duration = values.duration === undefined ? undefined : Number(values.duration);
  if (duration !== undefined && !(duration > 0)) throw new UsageError('--duration must be a number of seconds > 0');
  if (values.report !== undefined) throw new UsageError('--report is not available yet');

  if (values['hardware-only']) {
    if (!values.out) throw new UsageError('--hardware-only needs --out DIR');
    return hardwareOnly(path.resolve(values.out as string), scenario, boards, duration);
  }
  return fullSite(scenario, boards, duration);
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

async function fullSite(scenario: Scenario, boards: number, duration?: number): Promise<number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hashflex-sim-'));
  process.env.HASHFLEX_LOG_FILE ??= path.join(dir, 'agent.log');
  const site = await SimSite.start({ dir, boards, scenario, controller: true, token: 'sim-controller-token' });
  let agent: { stop(): Promise<void> } | undefined;
  try {
    const { agentYaml } = site.writeFiles({ local: `127.0.0.1:${await freePort()}` });
    const config = validateConfig((require('yaml') as typeof import('yaml')).parse(fs.readFileSync(agentYaml, 'utf8')), agentYaml);
    const { startAgent } = require('./main') as typeof import('./main');
    if (site.transport === 'tcp') process.stdout.write('socat not found: serial devices are served over raw TCP instead of ptys\n');
    process.stdout.write(`hashflex sim: ${boards} boards, scenario ${scenario.name} (${scenario.description}); logs in ${process.env.HASHFLEX_LOG_FILE}; Ctrl-C to stop\n`);
    agent = await startAgent(config);
    process.stdout.write(`dashboard: http://${config.local!.listen}/\n`);
    const status = new StatusLine(site);
    await untilStopped(duration);
    status.stop();
  } finally {
    await agent?.stop();
    await site.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return 0;
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
