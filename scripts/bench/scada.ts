import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { SimRtu } from '../../sim/rtu';
import { SimSite } from '../../sim/site';
import type { Scenario, ScenarioPoint } from '../../sim/scenarios/types';
import { stats, type Stats } from './stats';
import { HASHFLEX_SCRIPT } from './where';

/**
 * `hashflex bench scada` (DESIGN §6: SCADA curtail coil written -> all boards off, p99 ≤ 10 ms):
 * the trip bench's rig — the real agent in its own process against the simulated site, 8 boards
 * on ptys, a site controller over WebSocket — with `scada:` on a loopback port, and a simulated
 * RTU here writing coil 0 over Modbus TCP, over and over. Three figures per curtail:
 *  - agent:  the coil write received by the agent -> every enable line and chain stop handed to
 *            the OS (the `latency_ms` of its `trip` event, source scada);
 *  - reply:  the RTU's round trip: write sent -> reply received (the agent replies only after
 *            every board is off, so this bounds "off" as the RTU sees it), timed by an RTU in a
 *            process of its own;
 *  - wire:   write sent -> every enable pin seen low by the simulated I/O board.
 */
export interface ScadaBenchResult {
  boards: number;
  transport: string;
  iterations: number;
  agent: Stats;
  reply: Stats;
  wire: Stats;
  /** round trip of a read of registers 0..21 while the site runs (the RTU's poll) */
  read: Stats;
}

export async function benchScada(opts: { boards?: number; iterations?: number; log?: (s: string) => void } = {}): Promise<ScadaBenchResult> {
  const boards = opts.boards ?? 8;
  const n = opts.iterations ?? 50;
  const log = opts.log ?? (() => {});
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hashflex-bench-'));
  process.env.HASHFLEX_LOG_FILE ??= path.join(dir, 'agent.log');
  const point: ScenarioPoint = { hz: 60, generationKw: 100, baseLoadKw: 0, relay: false };
  const steady: Scenario = { name: 'bench', description: 'steady 60 Hz, 100 kW of surplus', durationS: Infinity, at: () => point };
  const site = await SimSite.start({ dir, boards, scenario: steady, controller: true, token: 'bench-token-123', chips: 16, tickMs: 2 });
  let agent: ChildProcess | undefined;
  let rtu: RtuChild | undefined;
  try {
    const port = await freePort();
    const { agentYaml } = site.writeFiles();
    const doc = JSON.parse(JSON.stringify(site.agentConfig()));
    doc.agent.id = 'bench';
    doc.control = { mode: 'setpoint', setpoint_kw: 1000, max_kw: 1000, stagger_ms: 0 };
    doc.scada = { listen: `127.0.0.1:${port}`, allow: ['127.0.0.1/32'] };
    for (const b of doc.boards) Object.assign(b, { ramp_step_ms: 10, ramp_step_mhz: 50, power_on_ms: 50 });
    fs.writeFileSync(agentYaml, YAML.stringify(doc));
    agent = spawn(process.execPath, [HASHFLEX_SCRIPT, 'run', '-c', agentYaml], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, HASHFLEX_LOG: 'error' } });
    const ctl = site.controller!;
    const trips: { latency_ms: number; source: string }[] = [];
    ctl.on('event', (e: { kind: string; latency_ms: number; source: string }) => { if (e.kind === 'trip') trips.push(e); });
    const plant = site.boardIds.map((id) => site.plant.boards.get(id)!);
    const allOff = () => plant.every((b) => !b.enabled);
    const allOn = () => plant.every((b) => b.enabled && b.active && b.mhz > 100);

    // up once the agent's site has started; then the RTU of the figures, in its own process
    const proc = agent;
    await (await connectWhenUp(port, 30_000, () => proc.exitCode !== null)).close();
    rtu = await rtuChild(port);
    const agentMs: number[] = [];
    const replyMs: number[] = [];
    const wireMs: number[] = [];
    const readMs: number[] = [];
    for (let i = 0; i < n; i++) {
      await waitFor(allOn, 60_000, 'boards back on');
      for (let k = 0; k < 3; k++) readMs.push((await rtu.ask('read')).ms);
      const before = trips.length;
      // the pins are watched here, the write is timed there: both on the shared clock
      const wired = waitFor(allOff, 5000, 'all enable pins low').then(() => performance.timeOrigin + performance.now());
      const reply = await rtu.ask('curtail');
      if (reply.exception !== undefined) throw new Error(`bench: the coil write was answered exception ${reply.exception}`);
      replyMs.push(reply.ms);
      wireMs.push((await wired) - reply.at);
      await waitFor(() => trips.length > before, 5000, 'the scada trip event');
      const t = trips[trips.length - 1];
      if (t.source !== 'scada') throw new Error(`bench: a trip from ${t.source}, not scada`);
      agentMs.push(t.latency_ms);
      await rtu.ask('release');
    }
    log(`scada: ${n} curtails`);
    return { boards, transport: site.transport, iterations: n, agent: stats(agentMs), reply: stats(replyMs), wire: stats(wireMs), read: stats(readMs) };
  } finally {
    await rtu?.close();
    if (agent && agent.exitCode === null) {
      const exited = new Promise((r) => agent!.once('exit', r));
      agent.kill('SIGTERM');
      await exited;
    }
    await site.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The RTU in a process of its own, as it is on the aggregator's side: the reply's round trip is
 * then timed in a process that is not also the simulator (whose event loop is at its busiest
 * the moment the boards go off). Plain JavaScript given to `node -e`, so the bench runs from
 * the board package too. One command a stdin line (`curtail`, `release`, `read`), one JSON line
 * back: { ms, at } with `at` the send time on the shared clock (timeOrigin + now).
 */
const RTU_CHILD = `
const net = require('node:net');
const sock = net.connect({ host: '127.0.0.1', port: Number(process.argv[1]) });
sock.setNoDelay(true);
let tid = 0, pending, buf = Buffer.alloc(0);
sock.on('data', (d) => {
  buf = Buffer.concat([buf, d]);
  while (buf.length >= 7 && buf.length >= 6 + buf.readUInt16BE(4)) {
    const pdu = buf.subarray(7, 6 + buf.readUInt16BE(4));
    buf = buf.subarray(6 + buf.readUInt16BE(4));
    const p = pending; pending = undefined;
    if (p) p(pdu);
  }
});
sock.on('error', (e) => { process.stdout.write(JSON.stringify({ error: e.message }) + '\\n'); process.exit(1); });
const pdus = { curtail: [5, 0, 0, 0xff, 0], release: [5, 0, 0, 0, 0], read: [3, 0, 0, 0, 22] };
sock.on('connect', () => {
  process.stdout.write(JSON.stringify({ ready: true }) + '\\n');
  require('node:readline').createInterface({ input: process.stdin }).on('line', (cmd) => {
    tid = (tid + 1) & 0xffff;
    const pdu = Buffer.from(pdus[cmd.trim()]);
    const head = Buffer.from([tid >> 8, tid & 255, 0, 0, 0, pdu.length + 1, 1]);
    const t0 = performance.now();
    pending = (reply) => process.stdout.write(JSON.stringify({ ms: performance.now() - t0, at: performance.timeOrigin + t0, exception: reply[0] & 0x80 ? reply[1] : undefined }) + '\\n');
    sock.write(Buffer.concat([head, pdu]));
  });
});
`;

interface RtuChild {
  ask(cmd: 'curtail' | 'release' | 'read'): Promise<{ ms: number; at: number; exception?: number }>;
  close(): Promise<void>;
}

function rtuChild(port: number): Promise<RtuChild> {
  const p = spawn(process.execPath, ['-e', RTU_CHILD, String(port)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const waiting: ((o: any) => void)[] = [];
  let buf = '';
  p.stdout!.on('data', (d: Buffer) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      waiting.shift()?.(JSON.parse(line));
    }
  });
  const next = () => new Promise<any>((r) => waiting.push(r));
  return next().then((first) => {
    if (!first.ready) throw new Error(`bench: the RTU process failed: ${first.error}`);
    return {
      ask: (cmd) => { const r = next(); p.stdin!.write(`${cmd}\n`); return r; },
      close: () => new Promise<void>((r) => { if (p.exitCode !== null) return r(); p.once('exit', () => r()); p.kill(); }),
    };
  });
}

export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** the agent opens its SCADA port once the site has started: try until it answers */
async function connectWhenUp(port: number, timeoutMs: number, exited: () => boolean): Promise<SimRtu> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    if (exited()) throw new Error('bench: the agent exited (its error is above)');
    try {
      const rtu = await SimRtu.connect('127.0.0.1', port);
      await rtu.readRegisters(0, 1);
      return rtu;
    } catch (e) {
      if (performance.now() > end) throw new Error(`bench: the agent's SCADA port ${port} did not answer: ${(e as Error).message}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = performance.now() + timeoutMs;
  // a tight loop on setImmediate: the figure must not carry a polling interval
  while (!cond()) {
    if (performance.now() > end) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}
