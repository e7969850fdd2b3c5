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
 * service: what a board runs, and the headline row: the bundle under the node flags and the
 * Environment= of deploy/hashflex.service (`--max-semi-space-size=1`, `MALLOC_ARENA_MAX=2`), in
 * a service-like environment (PATH, the unit's variables, nothing else from the bench's).
 * For comparison: tsx: bin/hashflex.js (what `npx hashflex` runs); bundle: the esbuild bundle
 * with node's defaults; bundle-semi1: the bundle under `--max-semi-space-size=1` alone (V8's
 * young generation capped at 1 MB per semi-space instead of 16 MB: more frequent, shorter
 * scavenges), so the two service settings can be told apart.
 */
export type FootprintForm = 'service' | 'tsx' | 'bundle' | 'bundle-semi1';
export const FOOTPRINT_FORMS: FootprintForm[] = ['service', 'tsx', 'bundle', 'bundle-semi1'];
const FORM_ARGS: Record<Exclude<FootprintForm, 'service'>, string[]> = { tsx: [], bundle: [], 'bundle-semi1': ['--max-semi-space-size=1'] };
const SERVICE_FILE = path.join(__dirname, '..', '..', 'deploy', 'hashflex.service');

/**
 * How a systemd unit starts node: the options between the node binary and the script on its
 * ExecStart= line, and its Environment= assignments (KEY=VALUE, optionally double-quoted, several
 * to a line; a later one wins, as in systemd). Only what deploy/hashflex.service uses is parsed.
 */
export function serviceLaunch(unit: string): { nodeArgs: string[]; env: Record<string, string>; script: string } {
  const exec = /^ExecStart=(.*)$/m.exec(unit)?.[1].trim();
  if (!exec) throw new Error('hashflex.service: no ExecStart= line');
  const words = exec.split(/\s+/);
  const at = words.findIndex((w, i) => i > 0 && !w.startsWith('-'));
  if (at < 0) throw new Error(`hashflex.service: no script on ExecStart=${exec}`);
  const env: Record<string, string> = {};
  for (const m of unit.matchAll(/^Environment=(.*)$/gm)) {
    for (const a of m[1].matchAll(/(?:"([^"=\s]+)=([^"]*)"|([^"=\s]+)=(\S*))/g)) env[a[1] ?? a[3]] = a[2] ?? a[4];
  }
  return { nodeArgs: words.slice(1, at), env, script: words[at] };
}

export interface FootprintRun {
  form: FootprintForm;
  nodeArgs: string[];
  /** environment given to the agent on top of the bench's own (service: instead of it) */
  env: Record<string, string>;
  source: string;
  seconds: number;
  rssMb: { steady: number; peak: number; min: number; max: number };
  /** % of one core over the window, and over its 1 s slices */
  cpuPercent: { mean: number; p50: number; p99: number; max: number };
  eventLoopDelayMs?: { p50: number; p99: number; max: number; mean: number };
  gc?: { count: number; totalMs: number; p50: number; p99: number; max: number; byKind: Record<string, number> };
  heapUsedMb?: number;
  /** RSS and V8 heap every `timelineS` seconds of the window: does RSS level off? */
  timeline: { s: number; rssMb: number; heapUsedMb?: number; heapTotalMb?: number; externalMb?: number }[];
  telemetryPerS: number;
  meterPollsPerS: number;
  /** the agent had to be killed: it did not exit within 15 s of SIGTERM */
  stopTimedOut?: true;
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
  /** default FOOTPRINT_FORMS (service first) */
  forms?: FootprintForm[];
  /** seconds between timeline points (default 30) */
  timelineS?: number;
  /** extra node options for the agent, e.g. ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] or ['--max-semi-space-size=1'] */
  nodeArgs?: string[];
  /** extra environment for the agent, on top of the form's (experiments: e.g. UV_THREADPOOL_SIZE) */
  env?: Record<string, string>;
  /** edit the agent's config before the run (profiling: e.g. storage.journal_checkpoint) */
  editConfig?: (doc: Record<string, any>) => void;
  log?: (s: string) => void;
}

const ROOT = path.join(__dirname, '..', '..');

export async function benchFootprint(o: FootprintOptions = {}): Promise<FootprintBenchResult> {
  const forms = o.forms ?? FOOTPRINT_FORMS;
  const runs: FootprintRun[] = [];
  let transport = '';
  for (const form of forms) {
    const bundle = form === 'tsx' ? undefined : await agentBundle();
    try {
      let cmd: Launch;
      if (!bundle) {
        cmd = { file: path.join(ROOT, 'bin', 'hashflex.js'), env: {}, baseEnv: process.env, nodeArgs: [], source: 'bin/hashflex.js (tsx)' };
      } else if (form === 'service') {
        const unit = serviceLaunch(fs.readFileSync(SERVICE_FILE, 'utf8'));
        // systemd starts a service with a clean environment: PATH and the unit's own variables
        cmd = { file: bundle.file, env: { ...unit.env, ...bundle.env }, baseEnv: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, nodeArgs: unit.nodeArgs, source: `${bundle.source}, as deploy/hashflex.service runs it` };
      } else {
        const { NODE_OPTIONS: _, ...rest } = process.env; // never tsx's loader in a bundle form
        cmd = { file: bundle.file, env: bundle.env, baseEnv: rest, nodeArgs: FORM_ARGS[form], source: bundle.source };
      }
      cmd.env = { ...cmd.env, ...o.env };
      const r = await measure(form, cmd, [...cmd.nodeArgs, ...(o.nodeArgs ?? [])], o);
      transport = r.transport;
      runs.push(r.run);
      o.log?.(`${form}: rss ${r.run.rssMb.steady.toFixed(1)} MB, cpu ${r.run.cpuPercent.mean.toFixed(2)} %`);
    } finally {
      bundle?.cleanup();
    }
  }
  return { boards: o.boards ?? 8, pollMs: 50, transport, nodeArgs: o.nodeArgs ?? [], runs };
}

interface Launch {
  file: string;
  /** shown in the result: what the form adds */
  env: Record<string, string>;
  /** what it is added to */
  baseEnv: NodeJS.ProcessEnv;
  nodeArgs: string[];
  source: string;
}

async function measure(form: FootprintForm, cmd: Launch, nodeArgs: string[], o: FootprintOptions) {
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
      env: { ...cmd.baseEnv, ...cmd.env, HASHFLEX_LOG: cmd.env.HASHFLEX_LOG ?? 'info', HASHFLEX_LOG_FILE: path.join(dir, 'agent.log'), HASHFLEX_PROBE_OUT: probeOut },
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
    // the agent leaves the boards off and exits on SIGTERM; one that has not after 15 s (systemd's
    // TimeoutStopSec in the unit) is killed, and the run says so
    const exited = new Promise((r) => agent!.once('exit', r));
    agent.kill('SIGTERM');
    const stopped = await Promise.race([exited.then(() => true), sleep(15_000).then(() => false)]);
    if (!stopped) {
      o.log?.(`${form}: the agent did not exit within 15 s of SIGTERM; killed`);
      agent.kill('SIGKILL');
      await exited;
    }
    const probe = fs.existsSync(probeOut) ? JSON.parse(fs.readFileSync(probeOut, 'utf8')) : {};
    const slices = samples.slice(1).map((s, i) => cpuPercent(samples[i], s));
    const rss = stats(samples.map((s) => s.rssMb));
    const cpu: Stats = stats(slices);
    const r2 = (x: number) => Math.round(x * 100) / 100;
    const every = o.timelineS ?? 30;
    const heap: { s: number; heapUsedMb: number; heapTotalMb: number; externalMb: number }[] = probe.timeline ?? [];
    const timeline = samples.filter((_, i) => i % every === 0 || i === samples.length - 1).map((x) => {
      const s = Math.round((x.at - first.at) / 1000);
      const h = heap.reduce<typeof heap[number] | undefined>((best, p) => (Math.abs(p.s - s) <= every / 2 && (!best || Math.abs(p.s - s) < Math.abs(best.s - s)) ? p : best), undefined);
      return { s, rssMb: r2(x.rssMb), heapUsedMb: h?.heapUsedMb, heapTotalMb: h?.heapTotalMb, externalMb: h?.externalMb };
    });
    const run: FootprintRun = {
      form, nodeArgs, env: cmd.env, source: cmd.source, seconds: r2(windowS), timeline,
      rssMb: { steady: rss.p50, peak: r2(last.hwmMb), min: r2(Math.min(...samples.map((s) => s.rssMb))), max: rss.max },
      cpuPercent: { mean: r2(cpuPercent(first, last)), p50: cpu.p50, p99: cpu.p99, max: cpu.max },
      eventLoopDelayMs: probe.eventLoopDelayMs, gc: probe.gc, heapUsedMb: probe.heapUsedMb,
      telemetryPerS: r2(telemetry / windowS), meterPollsPerS: r2(polls / windowS),
      ...(stopped ? {} : { stopTimedOut: true }),
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
