import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { runRounds, startFleet, stop, waiters, type Fleet, type FleetBenchResult, type FleetOptions } from './fleet';
import { monoMs } from './sim-host';

/**
 * `hashflex bench fleet --mqtt`: the fleet bench (fleet.ts: same sim hosts, same agents, same
 * rounds) with the uplink over MQTT 5 through a local Mosquitto (Debian's package, started here
 * on 127.0.0.1). Every agent has `uplink.url: mqtt://…` and `uplink.site: fleet`. Each round the
 * controller publishes ONE curtail on the site-wide topic hashflex/fleet/cmd and times, from that
 * publish, every agent's ack (on hashflex/fleet/<agent>/ack, sent once all its boards are off)
 * and every board's enable pin seen low by its simulated I/O board; then one site-wide release
 * and the ramp back. The two figures differ only by the uplink.
 */
export type FleetMqttResult = FleetBenchResult;
export type FleetMqttOptions = FleetOptions;

const SITE = 'fleet';

/** Mosquitto's version line (`mosquitto -h`), or undefined when it is not installed. */
export function mosquittoVersion(): string | undefined {
  const r = spawnSync('mosquitto', ['-h'], { encoding: 'utf8', timeout: 5000 });
  if (r.error) return undefined;
  return /mosquitto version \S+/.exec(`${r.stdout}${r.stderr}`)?.[0] ?? 'mosquitto';
}

export async function benchFleetMqtt(o: FleetMqttOptions = {}): Promise<FleetMqttResult> {
  const version = mosquittoVersion();
  if (!version) throw new Error('bench: mosquitto is not installed (apt-get install mosquitto)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hashflex-fleet-mqtt-'));
  const w = waiters();
  let broker: { url: string; pid?: number; stop(): Promise<void> } | undefined;
  let ctl: import('mqtt').MqttClient | undefined;
  let fleet: Fleet | undefined;
  try {
    broker = await startMosquitto(dir);
    const mqtt = require('mqtt') as typeof import('mqtt');
    const c = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'fleet-bench-controller', clean: true });
    ctl = c;
    (c.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
    const online = new Set<string>();
    const acks = new Map<string, { ok: boolean; at: number }>();
    // the agents' own figure (trip event latency_ms: command received -> all boards off), which
    // splits the time into the way there (broker, sockets, scheduling) and the agent's work
    const reported: number[] = [];
    c.on('message', (topic: string, payload: Buffer) => {
      const at = monoMs();
      const [, , agent, kind] = topic.split('/');
      let f: { type?: string; id?: string; ok?: boolean; seq?: number; online?: boolean; kind?: string; source?: string; latency_ms?: number };
      try { f = JSON.parse(payload.toString()); } catch { return; }
      if (kind === 'event' && f.kind === 'trip' && f.source === 'command' && typeof f.latency_ms === 'number') reported.push(f.latency_ms);
      if (kind === 'ack' && f.id) {
        acks.set(`${f.id}/${agent}`, { ok: f.ok === true, at });
        w.poke();
      } else if (kind === 'state') {
        if (f.online) online.add(agent);
        else online.delete(agent);
        w.poke();
      } else if ((kind === 'telemetry' || kind === 'event') && typeof f.seq === 'number' && f.seq % 20 === 0) {
        // keep the agents' journals short, as a controller does
        void c.publishAsync(`hashflex/${SITE}/${agent}/received`, JSON.stringify({ type: 'received', seq: f.seq }), { qos: 1 }).catch(() => undefined);
      }
    });
    await c.subscribeAsync(`hashflex/${SITE}/#`, { qos: 1 });
    fleet = await startFleet({ ...o, waiters: w, uplink: () => ({ url: broker!.url, site: SITE }) });
    const ids = fleet.ids;
    await w.when(() => ids.every((id) => online.has(id)), 120_000, 'every agent online');
    let n = 0;
    return await runRounds(fleet, {
      name: 'mqtt',
      broker: version,
      brokerPid: broker.pid,
      reported,
      async broadcast(action) {
        const id = `${action}-${++n}`;
        const t0 = monoMs();
        await c.publishAsync(`hashflex/${SITE}/cmd`, JSON.stringify({ type: 'command', id, action }), { qos: 1 });
        await w.when(() => ids.every((a) => acks.has(`${id}/${a}`)), 30_000, () => `every ack of ${id} (missing: ${ids.filter((a) => !acks.has(`${id}/${a}`)).join(', ')})`);
        const bad = ids.find((a) => !acks.get(`${id}/${a}`)!.ok);
        if (bad) throw new Error(`bench: ${action} refused by ${bad}`);
        return { t0, acks: new Map(ids.map((a) => [a, acks.get(`${id}/${a}`)!.at])) };
      },
    }, o);
  } finally {
    await fleet?.close();
    await ctl?.endAsync(true).catch(() => undefined);
    await broker?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Mosquitto on a free 127.0.0.1 port, anonymous, no persistence; `mosquitto` must be installed */
async function startMosquitto(dir: string): Promise<{ url: string; pid?: number; stop(): Promise<void> }> {
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
  const p: ChildProcess = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  p.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  p.once('error', (e) => { err += `cannot run mosquitto (apt-get install mosquitto): ${e.message}`; });
  const end = performance.now() + 10_000;
  while (!(await new Promise<boolean>((r) => { const c = net.connect(port, '127.0.0.1', () => { c.destroy(); r(true); }); c.once('error', () => r(false)); }))) {
    if (p.exitCode !== null || p.pid === undefined || performance.now() > end) {
      await stop(p);
      throw new Error(`bench: mosquitto did not start: ${err.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return { url: `mqtt://127.0.0.1:${port}`, pid: p.pid, stop: () => stop(p) };
}
