import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import type { SimBoard } from '../../sim/plant';
import type { Scenario } from '../../sim/scenarios/types';
import { SimSite } from '../../sim/site';
import { agentBundle } from './bundle';
import { watchEnable } from './fleet';
import { stats, type Stats } from './stats';

/**
 * `hashflex bench fleet --mqtt`: the fleet bench (fleet.ts) with the uplink over MQTT 5 through
 * a local Mosquitto (Debian's package, started here on 127.0.0.1). 32 agents, each its own `node`
 * process running the bundled agent against its own simulated site of 4 boards, all with
 * `uplink.url: mqtt://…` and `uplink.site: fleet`. Each round the controller publishes ONE
 * curtail on the site-wide topic hashflex/fleet/cmd and times, from that publish, every agent's
 * ack (on hashflex/fleet/<agent>/ack, sent once all its boards are off) and every board's enable
 * pin seen low by its simulated I/O board; then one site-wide release and the ramp back.
 * Same sims and agents as the WebSocket bench, so the two figures differ only by the uplink.
 */
export interface FleetMqttResult {
  agents: number;
  boardsPerAgent: number;
  iterations: number;
  broker: string;
  curtail: { ack: Stats; boardOff: Stats; lastBoardOff: Stats; lastAck: Stats; agentReported: Stats };
  release: { ack: Stats; allFullClock: Stats };
}

export interface FleetMqttOptions {
  agents?: number;
  boards?: number;
  iterations?: number;
  pollMs?: number;
  log?: (s: string) => void;
}

const SITE = 'fleet';
/** BM1366 stock 485 MHz less one of control's 12.5 MHz split steps: where a full board settles */
const FULL_MHZ = 485 - 12.5;

export async function benchFleetMqtt(o: FleetMqttOptions = {}): Promise<FleetMqttResult> {
  const nAgents = o.agents ?? 32;
  const nBoards = o.boards ?? 4;
  const iterations = o.iterations ?? 10;
  const pollMs = o.pollMs ?? 50;
  const log = o.log ?? (() => {});
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hashflex-fleet-mqtt-'));
  const point = { hz: 60, generationKw: 1000, baseLoadKw: 0, relay: false };
  const steady: Scenario = { name: 'fleet', description: 'steady surplus', durationS: Infinity, at: () => point };
  const broker = await startMosquitto(root);
  const mqtt = require('mqtt') as typeof import('mqtt');
  const ctl = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'fleet-bench-controller', clean: true });
  (ctl.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
  const online = new Set<string>();
  const ackAt = new Map<string, { id: string; ok: boolean; at: number }>();
  // the agents' own figure (trip event latency_ms: command received -> all boards off), which
  // splits the time into the way there (broker, sockets, scheduling) and the agent's work
  const reported: number[] = [];
  ctl.on('message', (topic: string, payload: Buffer) => {
    const [, , agent, kind] = topic.split('/');
    let f: { type?: string; id?: string; ok?: boolean; seq?: number; online?: boolean; kind?: string; source?: string; latency_ms?: number };
    try { f = JSON.parse(payload.toString()); } catch { return; }
    if (kind === 'event' && f.kind === 'trip' && f.source === 'command' && typeof f.latency_ms === 'number') reported.push(f.latency_ms);
    if (kind === 'ack' && f.id) ackAt.set(`${f.id}/${agent}`, { id: f.id, ok: f.ok === true, at: performance.now() });
    else if (kind === 'state') (f.online ? online.add(agent) : online.delete(agent));
    // keep the agents' journals short, as a controller does
    else if ((kind === 'telemetry' || kind === 'event') && typeof f.seq === 'number' && f.seq % 20 === 0) {
      void ctl.publishAsync(`hashflex/${SITE}/${agent}/received`, JSON.stringify({ type: 'received', seq: f.seq }), { qos: 1 }).catch(() => undefined);
    }
  });
  await ctl.subscribeAsync(`hashflex/${SITE}/#`, { qos: 1 });
  const sites: SimSite[] = [];
  const agents: ChildProcess[] = [];
  const bundle = await agentBundle();
  try {
    const offAt = new Map<string, number>();
    const boards: { key: string; b: SimBoard }[] = [];
    const ids: string[] = [];
    for (let i = 0; i < nAgents; i++) {
      const id = `agent-${String(i).padStart(2, '0')}`;
      ids.push(id);
      const dir = path.join(root, id);
      const site = await SimSite.start({ dir, boards: nBoards, chips: 16, scenario: steady, usePty: false, tickMs: 100 });
      sites.push(site);
      for (const [bid, b] of site.plant.boards) {
        const key = `${id}/${bid}`;
        boards.push({ key, b });
        watchEnable(b, (on, at) => { if (!on) offAt.set(key, at); });
      }
      const doc = site.agentConfig({ uplinkUrl: broker.url }) as Record<string, any>;
      doc.agent.id = id;
      doc.uplink = { url: broker.url, site: SITE };
      doc.meter.poll_ms = pollMs;
      doc.meter.stale_ms = Math.max(1000, 4 * pollMs);
      doc.control = { mode: 'setpoint', setpoint_kw: 1000, max_kw: 1000, stagger_ms: 2000 };
      const file = path.join(dir, 'agent.yaml');
      fs.writeFileSync(file, YAML.stringify(doc));
      agents.push(spawn(process.execPath, [bundle.file, 'run', '-c', file], {
        stdio: ['ignore', 'ignore', 'inherit'],
        env: { ...process.env, ...bundle.env, HASHFLEX_LOG: 'warn', HASHFLEX_LOG_FILE: path.join(dir, 'agent.log') },
      }));
    }
    await waitFor(() => ids.every((id) => online.has(id)), 120_000, 'every agent online');
    const allOn = () => boards.every(({ b }) => b.enabled && b.active && b.mhz >= FULL_MHZ);
    await waitFor(allOn, 120_000, 'every board hashing at full clock');
    log(`${nAgents} agents online over MQTT, every board hashing`);

    const acks: number[] = [], off: number[] = [], lastOff: number[] = [], lastAck: number[] = [];
    const relAcks: number[] = [], fullClock: number[] = [];
    const siteCommand = async (id: string, action: string): Promise<number[]> => {
      const t0 = performance.now();
      await ctl.publishAsync(`hashflex/${SITE}/cmd`, JSON.stringify({ type: 'command', id, action }), { qos: 1 });
      await waitFor(() => ids.every((a) => ackAt.has(`${id}/${a}`)), 30_000, `every ack of ${id}`);
      const mine = ids.map((a) => ackAt.get(`${id}/${a}`)!);
      const bad = mine.find((a) => !a.ok);
      if (bad) throw new Error(`bench: ${action} refused: ${JSON.stringify(bad)}`);
      return mine.map((a) => a.at - t0);
    };
    for (let it = 0; it < iterations; it++) {
      offAt.clear();
      const t0 = performance.now();
      const a = await siteCommand(`curtail-${it}`, 'curtail');
      await waitFor(() => offAt.size >= boards.length, 10_000, 'every board off');
      acks.push(...a);
      lastAck.push(Math.max(...a));
      off.push(...[...offAt.values()].map((t) => t - t0));
      lastOff.push(Math.max(...offAt.values()) - t0);
      const r0 = performance.now();
      relAcks.push(...(await siteCommand(`release-${it}`, 'release')));
      await waitFor(allOn, 120_000, 'every board at full clock');
      fullClock.push(performance.now() - r0);
      log(`round ${it + 1}: last ack ${lastAck[lastAck.length - 1].toFixed(1)} ms, last board off ${lastOff[lastOff.length - 1].toFixed(1)} ms`);
    }
    return {
      agents: nAgents, boardsPerAgent: nBoards, iterations, broker: broker.version,
      curtail: { ack: stats(acks), boardOff: stats(off), lastBoardOff: stats(lastOff), lastAck: stats(lastAck), agentReported: stats(reported) },
      release: { ack: stats(relAcks), allFullClock: stats(fullClock) },
    };
  } finally {
    await Promise.all(agents.map((a) => stop(a)));
    await Promise.allSettled(sites.map((s) => s.close()));
    await ctl.endAsync(true).catch(() => undefined);
    await broker.stop();
    bundle.cleanup();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

/** Mosquitto on a free 127.0.0.1 port, anonymous, no persistence; `mosquitto` must be installed */
async function startMosquitto(dir: string): Promise<{ url: string; version: string; stop(): Promise<void> }> {
  const port = await new Promise<number>((resolve, reject) => {
    const s = net.createServer().once('error', reject).listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  const conf = path.join(dir, 'mosquitto.conf');
  const root = process.getuid?.() === 0 ? 'user root\n' : '';
  // queue limit: a slow controller must not make the broker drop frames mid-bench; TCP_NODELAY:
  // Mosquitto leaves Nagle on by default, which holds small frames (acks) behind delayed ACKs
  fs.writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\nlog_dest none\nmax_queued_messages 100000\nset_tcp_nodelay true\n${root}`);
  const p = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  p.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  p.once('error', (e) => { err += `cannot run mosquitto (apt-get install mosquitto): ${e.message}`; });
  const end = performance.now() + 10_000;
  while (!(await new Promise<boolean>((r) => { const c = net.connect(port, '127.0.0.1', () => { c.destroy(); r(true); }); c.once('error', () => r(false)); }))) {
    if (p.exitCode !== null || p.pid === undefined || performance.now() > end) throw new Error(`bench: mosquitto did not start: ${err.trim()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    url: `mqtt://127.0.0.1:${port}`,
    version: 'mosquitto',
    stop: () => stop(p),
  };
}

function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
    p.once('exit', () => { clearTimeout(t); resolve(); });
    p.kill('SIGTERM');
  });
}

async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = performance.now() + timeoutMs;
  // setImmediate, not a timer: the figure must not carry a polling interval
  while (!cond()) {
    if (performance.now() > end) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}
