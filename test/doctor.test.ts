import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { SerialPort } from 'serialport';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import YAML from 'yaml';
import { validateConfig, type Config } from '../agent/config';
import { runDoctor, type DoctorOptions, type DoctorReport } from '../agent/doctor';
import { checkBoard } from '../agent/doctor/boards';
import { checkClock, checkUplink } from '../agent/doctor/system';
import { CHECKS, type DoctorContext } from '../agent/doctor/types';
import { SimSite } from '../sim/site';
import type { Scenario } from '../sim/scenarios/types';
import { hashflex, tmpdir } from './harness/cli';

/**
 * `hashflex doctor` against the simulated site (meter on Modbus TCP, chains and Firmata board on
 * ptys, a WebSocket controller): healthy, every check passes; with each fault switched on, the
 * check that covers it fails with a hint and the others still pass.
 */
const t = suite('doctor');
const TOKEN = 'doctor-token-1234';
/**
 * a steady grid, so the meter sees only what the doctor switches; `relay` is a switch for tests,
 * `load` the site's own load over scenario time (s) for the tests of a site that moves
 */
const grid: { relay: boolean; load?: (tS: number) => number } = { relay: false };
const steady: Scenario = {
  name: 'steady', description: 'steady grid for doctor tests', durationS: 3600, nominalHz: 60,
  at: (tS) => ({ hz: 60, generationKw: 0, baseLoadKw: grid.load?.(tS) ?? 1, relay: grid.relay }),
};
/**
 * short waits. The doctor's settle must cover the meter's refresh (a 5 Hz meter's registers can
 * be 200 ms old), so the site's meter measures on every request: 100 ms is then plenty, also on
 * a loaded machine. (test/doctor-sim.test.ts runs the 5 Hz meter, with --settle-ms 300.)
 */
const FAST: DoctorOptions = { meterSettleMs: 100, meterWindowMs: 200, meterTimeoutMs: 1000, boardTimeoutMs: 3000, fanTimeoutMs: 1500, uplinkTimeoutMs: 3000 };

let dir = '';
let site: SimSite;
let base: Record<string, unknown>;

t.before(async () => {
  dir = tmpdir('hashflex-doctor-');
  site = await SimSite.start({ dir, boards: 2, chips: 20, scenario: steady, controller: true, token: TOKEN, meterRefreshHz: 0 });
  base = site.agentConfig();
  fs.writeFileSync(path.join(dir, 'agent.yaml'), YAML.stringify(base));
});

t.after(async () => {
  await site?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function heal(): void {
  site.meter.heal();
  for (const c of site.chains) c.faults.silent = false;
  for (const f of site.plant.fans.values()) f.failed = false;
  site.firmata.faults.silence = false;
  grid.relay = false;
  grid.load = undefined;
}

async function doctor(mutate: (doc: any) => void = () => undefined, opts: DoctorOptions = {}): Promise<DoctorReport> {
  const doc = structuredClone(base);
  mutate(doc);
  try {
    return await runDoctor(validateConfig(doc, path.join(dir, 'agent.yaml')), { ...FAST, ...opts });
  } finally {
    heal();
  }
}

/** the config without hb1: a test about one board's enable line need not wait for two */
function onlyHb0(doc: any): void {
  doc.boards = doc.boards.filter((b: { id: string }) => b.id === 'hb0');
  doc.thermistors = doc.thermistors.filter((x: { board: string }) => x.board === 'hb0');
}

const key = (r: DoctorReport['results'][number]) => `${r.check}${r.item ? ` ${r.item}` : ''}`;
const failed = (rep: DoctorReport) => rep.results.filter((r) => r.status === 'fail').map(key);
const skipped = (rep: DoctorReport) => rep.results.filter((r) => r.status === 'skip').map(key);
const hintOf = (rep: DoctorReport, k: string) => rep.results.find((r) => key(r) === k)?.hint ?? '';

/** the doctor leaves every simulated board unpowered and its chain inactive */
function assertSafe(): void {
  for (const b of site.plant.boards.values()) {
    assert.is(b.enabled, false, `${b.id} enable line low`);
    assert.is(b.active, false, `${b.id} chain inactive`);
  }
}

t('on a healthy site every check passes, in order, and every board is left off', async () => {
  const rep = await doctor();
  assert.equal(failed(rep), [], JSON.stringify(rep.results.filter((r) => r.status !== 'pass'), null, 1));
  assert.equal(skipped(rep), []);
  assert.ok(rep.ok);
  assert.equal(rep.results.map(key), [
    'config', 'meter', 'io', 'board hb0', 'board hb1', 'fan fan0', 'fan fan1', 'enable hb0', 'enable hb1',
    'relay', 'uplink', 'clock', 'storage',
  ]);
  const order = rep.results.map((r) => CHECKS.indexOf(r.check));
  assert.equal(order, [...order].sort((a, b) => a - b));
  const enable = rep.results.find((r) => key(r) === 'enable hb0')!.data!;
  assert.ok((enable.drop_kw as number) > (enable.expected_kw as number) / 2, 'the meter saw the board go');
  assert.is((enable.cycles as unknown[]).length, 1, 'a steady site is judged on the first cycle');
  const storage = rep.results.find((r) => r.check === 'storage')!.data as { fsync_ms: { median: number; p99: number } };
  assert.ok(storage.fsync_ms.median >= 0 && storage.fsync_ms.p99 >= storage.fsync_ms.median);
  assertSafe();
});

t('a silent meter, a silent chain and an unreachable controller each fail their own check', async () => {
  site.meter.faults.timeout = true;
  site.chains[1].faults.silent = true;
  const rep = await doctor((doc) => { doc.uplink.url = 'ws://127.0.0.1:1/uplink'; });
  assert.equal(failed(rep), ['meter', 'board hb1', 'uplink']);
  assert.match(hintOf(rep, 'uplink'), /uplink\.url/);
  assert.match(hintOf(rep, 'meter'), /meter\.unit/);
  assert.match(hintOf(rep, 'board hb1'), /UART/);
  // what needs the meter or a working chain is not tried, rather than failed twice
  assert.equal(skipped(rep), ['enable hb0', 'enable hb1']);
  assertSafe();
});

t('a meter on a 50 Hz grid fails the plausibility for nominal_hz 60; a clock an hour off the controller fails', async () => {
  const rep = await doctor((doc) => { doc.grid.nominal_hz = 50; doc.grid.underfrequency.trip_hz = 49.7; }, { now: () => Date.now() + 3_600_000 });
  assert.equal(failed(rep), ['meter', 'clock']);
  assert.match(hintOf(rep, 'meter'), /nominal_hz/);
  assert.match(hintOf(rep, 'clock'), /timedatectl/);
  // the Date header has whole seconds
  const skew = rep.results.find((r) => r.check === 'clock')!.data!.skew_s as number;
  assert.ok(skew >= 3599 && skew <= 3601, String(skew));
});

t('a dead fan fails its fan check and a relay signalling a trip fails the relay check', async () => {
  const fan0 = site.plant.fans.get('fan0')!;
  fan0.failed = true;
  fan0.rpm = 0; // not still coasting from the run before
  grid.relay = true;
  const rep = await doctor();
  assert.equal(failed(rep), ['fan fan0', 'relay']);
  assert.match(hintOf(rep, 'fan fan0'), /pin 9/);
  assert.match(hintOf(rep, 'relay'), /polarity/);
  assertSafe();
});

t('an enable line that does not cut the board fails the enable check for that board', async () => {
  // a bypass jumper: hb0 stays powered whatever its enable line (pin 22) does
  const hb0 = site.plant.boards.get('hb0')!;
  const wiring = Object.getOwnPropertyDescriptor(hb0, 'enabled')!;
  Object.defineProperty(hb0, 'enabled', { get: () => true, set: () => undefined, configurable: true });
  try {
    const rep = await doctor();
    assert.equal(failed(rep), ['enable hb0']);
    assert.match(hintOf(rep, 'enable hb0'), /pin 22/);
  } finally {
    Object.defineProperty(hb0, 'enabled', wiring);
  }
});

t('a Firmata board that never answers fails the io check; what needs it is skipped', async () => {
  site.firmata.faults.silence = true;
  const rep = await doctor();
  assert.equal(failed(rep), ['io']);
  assert.match(hintOf(rep, 'io'), /StandardFirmata/);
  assert.equal(skipped(rep), ['board hb0', 'board hb1', 'fan fan0', 'fan fan1', 'enable hb0', 'enable hb1', 'relay']);
});

t('a wrong token, a clock in 1970 and an unwritable storage dir each fail their own check', async () => {
  const file = path.join(dir, 'not-a-dir');
  fs.writeFileSync(file, '');
  const rep = await doctor((doc) => {
    doc.uplink.token = 'wrong-token-000';
    doc.storage.dir = path.join(file, 'storage');
  }, { now: () => Date.UTC(1970, 0, 1) });
  assert.equal(failed(rep), ['uplink', 'clock', 'storage']);
  assert.match(hintOf(rep, 'uplink'), /uplink\.token/);
  assert.match(hintOf(rep, 'clock'), /timedatectl/);
  assert.match(hintOf(rep, 'storage'), /storage\.dir/);
});

t('a site load that ramps by more than a board draws while the enable check measures still passes: the drift is measured and subtracted', async () => {
  const t0 = site.elapsedS;
  grid.load = (tS) => 1 + 0.5 * Math.max(0, tS - t0); // +0.5 kW/s, rising: the old bracket took this for a stuck line
  const rep = await doctor(onlyHb0, { enableMhz: 150 }); // a 0.1 kW step; the frequency ramp takes 1.6 s
  assert.equal(failed(rep), [], JSON.stringify(rep.results.filter((r) => r.status === 'fail'), null, 1));
  const d = rep.results.find((r) => key(r) === 'enable hb0')!.data as { expected_kw: number; cycles: Array<{ moved_kw: number }> };
  assert.ok(d.cycles.some((c) => c.moved_kw > d.expected_kw), `the site moved more than hb0's ${d.expected_kw} kW: ${JSON.stringify(d.cycles)}`);
  assertSafe();
});

t('a site load that jumps about while the enable check measures gives "cannot tell", not a wiring fault', async () => {
  // a new level every 100 ms, anywhere in 1 ± 0.25 kW: every 200 ms window sees two or three
  grid.load = (tS) => 1 + 0.5 * (((Math.floor(tS * 10) * 2654435761) % 1000) / 1000 - 0.5);
  const rep = await doctor(onlyHb0);
  assert.equal(failed(rep), ['enable hb0']);
  const r = rep.results.find((x) => key(x) === 'enable hb0')!;
  assert.match(r.detail, /the site's load moved by [\d.]+ kW while measuring; cannot tell/);
  assert.match(r.hint!, /not a wiring fault/);
  assert.match(r.hint!, /--enable-mhz/);
  assert.not.match(r.hint!, /pin 22/);
  assert.is(r.data!.verdict, 'unsteady');
  assert.is((r.data!.cycles as unknown[]).length, 3, 'it tried three cycles before giving up');
  assertSafe();
});

/** the board check alone on `boards` (no enable lines: they would need the I/O board) */
async function boardChecks(boards: Array<Config['boards'][number]>, config = validateConfig(structuredClone(base))) {
  const ctx = { config, opts: { ...FAST }, ioOk: false, meterOk: false, boards: new Map(), boardsUp: new Set(), uplinkOk: false } as never as DoctorContext;
  try {
    const out = [];
    for (const b of boards) out.push(await checkBoard(ctx, { ...b, enable_pin: undefined }));
    return out;
  } finally {
    for (const d of ctx.boards.values()) await d.close();
  }
}

t('a port that does not exist or that another process holds gets the operating system\'s reason, not the cable advice', async () => {
  const endpoint = site.endpoints().boards[0];
  const device = 'path' in endpoint ? endpoint.path : undefined;
  if (!device) return; // raw TCP where socat is missing: no device node, no lock
  // the agent service still running: it holds hb0's port (serialport locks it with flock)
  const held = new SerialPort({ path: device, baudRate: 115200, autoOpen: false, lock: true });
  await new Promise<void>((resolve, reject) => held.open((e) => (e ? reject(e) : resolve())));
  try {
    const [hb0] = validateConfig(structuredClone(base)).boards;
    const [busy, missing] = await boardChecks([hb0, { ...hb0, id: 'hb9', serial: { path: path.join(dir, 'ttyUSB9'), baud: 115200 } }]);
    assert.is(busy.data!.os_error, 'EBUSY', busy.detail);
    assert.match(busy.hint!, 'another process holds the port (is the hashflex service still running? systemctl stop hashflex)');
    assert.is(missing.data!.os_error, 'ENOENT', missing.detail);
    assert.match(missing.hint!, /no such device .*ttyUSB9/);
    for (const r of [busy, missing]) {
      assert.is(r.status, 'fail');
      assert.not.match(r.hint!, /baud|TX\/RX/);
    }
  } finally {
    await new Promise((resolve) => held.close(resolve));
  }
});

t('a port the user may not open gets the dialout hint (a real EACCES: run as root, opened as nobody)', async () => {
  const endpoint = site.endpoints().boards[0];
  if (process.getuid?.() !== 0 || !process.seteuid || !('path' in endpoint)) return;
  const config = validateConfig(structuredClone(base));
  process.seteuid(65534); // the pty is root's, mode 0620: nobody may not open it
  let r;
  try {
    [r] = await boardChecks([config.boards[0]], config);
  } finally {
    process.seteuid(0);
  }
  assert.is(r.status, 'fail');
  assert.is(r.data!.os_error, 'EACCES', r.detail);
  assert.match(r.hint!, /add the service user to the `dialout` group/);
});

t('the uplink check authenticates without a hello: the controller sees no agent reboot and a running agent keeps its link', async () => {
  const controller = site.controller!;
  // the agent as it runs: connected, said hello once
  const agent = new WebSocket(controller.url, { headers: { Authorization: `Bearer ${TOKEN}` } });
  await new Promise<void>((resolve, reject) => { agent.once('open', () => resolve()); agent.once('error', reject); });
  agent.send(JSON.stringify({ type: 'hello', v: 1, agent: 'sim-board', version: '0.1.0', boot: randomUUID() }));
  const deadline = Date.now() + 5000;
  while (!controller.agents.get('sim-board')?.connected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const hellos = controller.agents.get('sim-board')!.hellos;
  const seen: string[] = [];
  const events = ['connection', 'hello', 'invalid', 'disconnect'].map((e) => [e, (id?: string) => seen.push(`${e} ${id}`)] as const);
  for (const [e, f] of events) controller.on(e, f);
  try {
    const ctx = { config: validateConfig(structuredClone(base)), opts: { ...FAST, now: Date.now }, uplinkOk: false } as never as DoctorContext;
    const up = await checkUplink(ctx);
    assert.is(up.status, 'pass', up.detail);
    assert.match(up.detail, /no hello/);
    const clock = await checkClock(ctx);
    assert.is(clock.status, 'pass', clock.detail);
    assert.ok(Math.abs(clock.data!.skew_s as number) <= 1, `the controller's Date: ${clock.detail}`);
    await new Promise((r) => setTimeout(r, 100));
    assert.is(controller.agents.get('sim-board')!.hellos, hellos, 'no second hello for sim-board');
    assert.equal([...controller.agents.keys()], ['sim-board'], 'no other agent id either');
    assert.equal(seen, [], 'the controller saw nothing of the doctor');
    assert.is(agent.readyState, WebSocket.OPEN, 'the running agent was not replaced');
  } finally {
    for (const [e, f] of events) controller.off(e, f);
    agent.close();
  }
});

t('the report is not mixed with log lines: they go to a file named at the end', async () => {
  const cfg = path.join(dir, 'agent.yaml');
  const p = hashflex(['doctor', '-c', cfg, '--settle-ms', '100'], { HASHFLEX_LOG: 'info' });
  assert.is(await p.exited, 0, p.out() + p.err());
  assert.is(p.err(), '', 'nothing on stderr');
  const lines = p.out().trimEnd().split('\n');
  assert.ok(lines.every((l) => !l.startsWith('{')), p.out());
  const file = /^agent logs: (.+)$/.exec(lines.at(-1)!)?.[1];
  assert.ok(file, lines.at(-1));
  try {
    assert.match(fs.readFileSync(file!, 'utf8'), /"ns":"io"/);
  } finally {
    fs.rmSync(file!, { force: true });
  }
});

t('the command prints JSON for scripts and exits 2 on a bad config, 0 when all pass', async () => {
  const bad = path.join(dir, 'bad.yaml');
  fs.writeFileSync(bad, YAML.stringify({ ...base, meter: { model: 'nope' } }));
  const p = hashflex(['doctor', '-c', bad, '--json']);
  assert.is(await p.exited, 2);
  const doc = JSON.parse(p.out());
  assert.is(doc.ok, false);
  assert.is(doc.results[0].check, 'config');
  assert.ok(doc.results[0].data.problems.some((s: string) => s.startsWith('meter.model')));

  // --verbose: the logs on stderr, as the agent writes them; stdout is still one JSON document
  const good = hashflex(['doctor', '-c', path.join(dir, 'agent.yaml'), '--json', '--settle-ms', '100', '--verbose'], { HASHFLEX_LOG: 'info' });
  const code = await good.exited;
  const report = JSON.parse(good.out());
  assert.is(code, 0, good.out());
  assert.is(report.ok, true);
  assert.is(report.failed, 0);
  assert.is(report.log_file, undefined);
  assert.match(good.err(), /"ns":"io"/);
});

t.run();
