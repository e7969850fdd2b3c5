import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import YAML from 'yaml';
import { validateConfig } from '../agent/config';
import { runDoctor, type DoctorOptions, type DoctorReport } from '../agent/doctor';
import { CHECKS } from '../agent/doctor/types';
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
/** a steady grid, so the meter sees only what the doctor switches; `relay` is a switch for tests */
const grid = { relay: false };
const steady: Scenario = {
  name: 'steady', description: 'steady grid for doctor tests', durationS: 3600, nominalHz: 60,
  at: () => ({ hz: 60, generationKw: 0, baseLoadKw: 1, relay: grid.relay }),
};
/** short waits: the simulated meter has no averaging lag */
const FAST: DoctorOptions = { meterSettleMs: 100, meterWindowMs: 200, meterTimeoutMs: 1000, boardTimeoutMs: 3000, fanTimeoutMs: 1500, uplinkTimeoutMs: 3000 };

let dir = '';
let site: SimSite;
let base: Record<string, unknown>;

t.before(async () => {
  dir = tmpdir('hashflex-doctor-');
  site = await SimSite.start({ dir, boards: 2, chips: 20, scenario: steady, controller: true, token: TOKEN });
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

t('the command prints JSON for scripts and exits 2 on a bad config, 0 when all pass', async () => {
  const bad = path.join(dir, 'bad.yaml');
  fs.writeFileSync(bad, YAML.stringify({ ...base, meter: { model: 'nope' } }));
  const p = hashflex(['doctor', '-c', bad, '--json']);
  assert.is(await p.exited, 2);
  const doc = JSON.parse(p.out());
  assert.is(doc.ok, false);
  assert.is(doc.results[0].check, 'config');
  assert.ok(doc.results[0].data.problems.some((s: string) => s.startsWith('meter.model')));

  const good = hashflex(['doctor', '-c', path.join(dir, 'agent.yaml'), '--json', '--settle-ms', '100']);
  const code = await good.exited;
  const report = JSON.parse(good.out());
  assert.is(code, 0, good.out());
  assert.is(report.ok, true);
  assert.is(report.failed, 0);
});

t.run();
