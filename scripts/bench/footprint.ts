import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import YAML from 'yaml';
import { SimSite } from '../../sim/site';
import { windSurplus24h } from '../../sim/scenarios/builtin';
import { agentBundle } from './bundle';
import { cpuPercent, sampleProc, type ProcSample } from './proc';
import { stats, type Stats } from './stats';

/**
 * `hashflex bench footprint`: the agent in its own process (`hashflex run -c FILE`) against a
 * simulated site of 8 boards on ptys, meter polled every 50 ms over Modbus TCP, telemetry once a
 * second to a site controller, journal on disk, info-level logs to a file: what a board runs.
 * After a warm-up, RSS and CPU come from /proc/PID (outside the agent); event-loop delay and GC
 * pauses from scripts/bench/probe.js preloaded with `node -r` (inside it, no agent change).
 * Two forms: through tsx (bin/hashflex.js, what `npx hashflex` runs) and the esbuild bundle
 * (what boards run).
 */
/**
 * tsx: bin/hashflex.js; bundle: the esbuild bundle; bundle-semi1: the bundle under
 * `node --max-semi-space-size=1` (V8's young generation capped at 1 MB per semi-space instead
 * of 16 MB: more frequent, shorter scavenges for a flat RSS; a deployment choice, not code).
 */
export type FootprintForm = 'tsx' | 'bundle' | 'bundle-semi1';
const FORM_ARGS: Record<FootprintForm, string[]> = { tsx: [], bundle: [], 'bundle-semi1': ['--max-semi-space-size=1'] };

export interface FootprintRun {
  form: FootprintForm;
  nodeArgs: string[];
  source: string;
  seconds: number;
  rssMb: { steady: number; peak: number; min: number; max: number };
  /** % of one core over the window, and over its 1 s slices */
  cpuPercent: { mean: number; p50: number; p99: number; max: number };
  eventLoopDelayMs?: { p50: number; p99: number; max: number; mean: number };
  gc?: { count: number; totalMs: number; p50: number; p99: number; max: number; byKind: Record<string, number> };
  heapUsedMb?: number;
  telemetryPerS: number;
  meterPollsPerS: number;
}

export interface FootprintBenchResult {
  boards: number;
  pollMs: number;
  transport: string;
  nodeArgs: string[];
  runs: FootprintRun[];
}

export interface FootprintOptions {
  seconds?: number;
  warmupS?: number;
  boards?: number;
  forms?: FootprintForm[];
  /** extra node options for the agent, e.g. ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] or ['--max-semi-space-size=1'] */
  nodeArgs?: string[];
  /** edit the agent's config before the run (profiling: e.g. storage.journal_checkpoint) */
  editConfig?: (doc: Record<string, any>) => void;
  log?: (s: string) => void;
}

const ROOT = path.join(__dirname, '..', '..');

export async function benchFootprint(o: FootprintOptions = {}): Promise<FootprintBenchResult> {
  const forms = o.forms ?? (['tsx', 'bundle', 'bundle-semi1'] as FootprintForm[]);
  const runs: FootprintRun[] = [];
  let transport = '';
  for (const form of forms) {
    const bundle = form === 'tsx' ? undefined : await agentBundle();
    try {
      const cmd = bundle ? { file: bundle.file, env: bundle.env, source: bundle.source } : { file: path.join(ROOT, 'bin', 'hashflex.js'), env: {}, source: 'bin/hashflex.js (tsx)' };
      const r = await measure(form, cmd, [...FORM_ARGS[form], ...(o.nodeArgs ?? [])], o);
      transport = r.transport;
      runs.push(r.run);
      o.log?.(`${form}: rss ${r.run.rssMb.steady.toFixed(1)} MB, cpu ${r.run.cpuPercent.mean.toFixed(2)} %`);
    } finally {
      bundle?.cleanup();
    }
  }
  return { boards: o.boards ?? 8, pollMs: 50, transport, nodeArgs: o.nodeArgs ?? [], runs };
}

async function measure(form: FootprintForm, cmd: { file: string; env: Record<string, string>; source: string }, nodeArgs: string[], o: FootprintOptions) {
  const seconds = o.seconds ?? 60;
  const warmupS = o.warmupS ?? 15;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hashflex-footprint-'));
  const site = await SimSite.start({ dir, boards: o.boards ?? 8, scenario: windSurplus24h, controller: true, token: 'bench-token-123' });
  let agent: ChildProcess | undefined;
  try {
    const doc = site.agentConfig() as Record<string, any>;
    doc.agent.id = 'footprint';
    doc.meter.poll_ms = 50;
    doc.uplink.telemetry_ms = 1000;
    o.editConfig?.(doc);
    const file = path.join(dir, 'agent.yaml');
    fs.writeFileSync(file, YAML.stringify(doc));
    const probeOut = path.join(dir, 'probe.json');
    agent = spawn(process.execPath, [...nodeArgs, '-r', path.join(__dirname, 'probe.js'), cmd.file, 'run', '-c', file], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, ...cmd.env, HASHFLEX_LOG: 'info', HASHFLEX_LOG_FILE: path.join(dir, 'agent.log'), HASHFLEX_PROBE_OUT: probeOut },
    });
    const pid = agent.pid!;
    const ctl = site.controller!;
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('bench: the agent did not say hello within 30 s')), 30_000);
      ctl.once('hello', () => { clearTimeout(t); resolve(); });
      agent!.once('exit', (code) => reject(new Error(`bench: the agent exited (${code}) before hello`)));
    });
    await sleep(warmupS * 1000);
    process.kill(pid, 'SIGUSR2'); // the probe starts its figures afresh
    let telemetry = 0;
    const onTelemetry = () => { telemetry++; };
    ctl.on('telemetry', onTelemetry);
    const polls0 = site.meter.stats.requests;
    const samples: ProcSample[] = [];
    const first = sampleProc(pid);
    if (!first) throw new Error('bench: the agent is gone');
    samples.push(first);
    for (let i = 0; i < seconds; i++) {
      await sleep(1000);
      const s = sampleProc(pid);
      if (!s) throw new Error('bench: the agent died during the run');
      samples.push(s);
    }
    ctl.off('telemetry', onTelemetry);
    const last = samples[samples.length - 1];
    const windowS = (last.at - first.at) / 1000;
    const polls = site.meter.stats.requests - polls0;
    const exited = new Promise((r) => agent!.once('exit', r));
    agent.kill('SIGTERM');
    await exited;
    const probe = fs.existsSync(probeOut) ? JSON.parse(fs.readFileSync(probeOut, 'utf8')) : {};
    const slices = samples.slice(1).map((s, i) => cpuPercent(samples[i], s));
    const rss = stats(samples.map((s) => s.rssMb));
    const cpu: Stats = stats(slices);
    const r2 = (x: number) => Math.round(x * 100) / 100;
    const run: FootprintRun = {
      form, nodeArgs, source: cmd.source, seconds: r2(windowS),
      rssMb: { steady: rss.p50, peak: r2(last.hwmMb), min: r2(Math.min(...samples.map((s) => s.rssMb))), max: rss.max },
      cpuPercent: { mean: r2(cpuPercent(first, last)), p50: cpu.p50, p99: cpu.p99, max: cpu.max },
      eventLoopDelayMs: probe.eventLoopDelayMs, gc: probe.gc, heapUsedMb: probe.heapUsedMb,
      telemetryPerS: r2(telemetry / windowS), meterPollsPerS: r2(polls / windowS),
    };
    return { run, transport: site.transport };
  } finally {
    if (agent && agent.exitCode === null && agent.signalCode === null) {
      const exited = new Promise((r) => agent!.once('exit', r));
      agent.kill('SIGKILL');
      await exited;
    }
    await site.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
