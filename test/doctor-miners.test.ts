import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import YAML from 'yaml';
import { validateConfig } from '../agent/config';
import { line, runDoctor, type CheckResult, type DoctorOptions } from '../agent/doctor';
import { checkMiners, checkSwitches, closeMiners } from '../agent/doctor/miners';
import { CHECKS, DOCTOR_DEFAULTS, type DoctorContext } from '../agent/doctor/types';
import { SimAntminer } from '../sim/miners/antminer';
import { A1466, AvalonSim } from '../sim/miners/avalon';
import { STOCK_SPEC, type MachineSpec } from '../sim/miners/machine';
import { SimWhatsminer, WHATSMINER_SPEC } from '../sim/miners/whatsminer';
import { hashflex, tmpdir } from './harness/cli';

/**
 * The doctor's miner checks (agent/doctor/miners.ts) against the family simulators over real
 * loopback TCP and HTTP, each miner on its own address in 127.26.0.0/16 (free ports, named in the
 * config), with machines that stop and wake in well under a second so that the switch check's
 * real waits stay short. A timer here runs the machines' physics, as the plant does.
 */
const t = suite('doctor: network miners');

const QUICK = { stopMs: 300, wakeMs: 600, rampMs: 200 };
const AM_SPEC: MachineSpec = { ...STOCK_SPEC, ...QUICK };
const WM_SPEC: MachineSpec = { ...WHATSMINER_SPEC, ...QUICK };
const AV_PROFILE = { ...A1466, ...QUICK };
/** short bounds: the machines take under a second; the drivers poll every 100 ms */
const FAST: DoctorOptions = { minerTimeoutMs: 5000, minerPollMs: 100, minerStopTimeoutMs: 5000, minerWakeTimeoutMs: 5000 };

const dir = tmpdir('hashflex-doctor-miners-');
let net3 = 1;
/** a fresh /24 for each test: 127.26.N.x */
const subnet = () => `127.26.${net3++}`;

interface Sims {
  am: SimAntminer[];
  wm: SimWhatsminer[];
  av: AvalonSim[];
  close(): Promise<void>;
}

/** start sims and a timer that runs their machines */
async function sims(make: { am?: Array<Partial<ConstructorParameters<typeof SimAntminer>[0]>>; wm?: Array<Partial<ConstructorParameters<typeof SimWhatsminer>[0]>>; av?: Array<Partial<ConstructorParameters<typeof AvalonSim>[0]>> }): Promise<Sims> {
  const net = subnet();
  let host = 1;
  const am = await Promise.all((make.am ?? []).map((o) => new SimAntminer({ host: `${net}.${host++}`, ports: { api: 0, web: 0 }, spec: AM_SPEC, ...o }).start()));
  const wm = await Promise.all((make.wm ?? []).map((o) => {
    const h = `${net}.${host++}`;
    return new SimWhatsminer({ id: `wm@${h}`, host: h, ports: { api: 0, web: null }, spec: WM_SPEC, ...o }).start();
  }));
  const av = await Promise.all((make.av ?? []).map((o) => new AvalonSim({ host: `${net}.${host++}`, port: 0, profile: AV_PROFILE, ...o }).start()));
  const machines = [...am, ...wm, ...av].map((s) => s.machine);
  let last = Date.now();
  const ticker = setInterval(() => {
    const now = Date.now();
    for (const m of machines) m.tick(now - last);
    last = now;
  }, 20);
  return {
    am, wm, av,
    close: async () => {
      clearInterval(ticker);
      await Promise.all([...am, ...wm, ...av].map((s) => s.close()));
    },
  };
}

const amEntry = (s: SimAntminer, id: string, over: Record<string, unknown> = {}) => ({ id, host: s.host, driver: 'antminer', ports: { api: s.ports.api, web: s.ports.web }, timeout_ms: 500, ...over });
const wmEntry = (s: SimWhatsminer, id: string, over: Record<string, unknown> = {}) => ({ id, host: s.host, driver: 'whatsminer', ports: { api: s.ports.api }, timeout_ms: 500, ...over });
const avEntry = (s: AvalonSim, id: string, over: Record<string, unknown> = {}) => ({ id, host: s.host, driver: 'avalon', ports: { api: s.port }, timeout_ms: 500, ...over });

function configOf(miners: unknown[]): ReturnType<typeof validateConfig> {
  return validateConfig({ agent: { id: 'a1' }, meter: { tcp: '127.0.0.1:1' }, miners, storage: { dir } }, path.join(dir, 'agent.yaml'));
}

/** the doctor's miner steps on their own (run.ts runs them between relay and uplink) */
async function minerChecks(miners: unknown[], opts: DoctorOptions = {}): Promise<CheckResult[]> {
  const ctx = {
    config: configOf(miners),
    opts: { ...DOCTOR_DEFAULTS, now: Date.now, ...FAST, ...opts },
    miners: new Map(), minersUp: new Set(),
  } as unknown as DoctorContext;
  try {
    return [...await checkMiners(ctx), ...await checkSwitches(ctx)];
  } finally {
    await closeMiners(ctx);
  }
}

const key = (r: CheckResult) => `${r.check}${r.item ? ` ${r.item}` : ''}`;
const byKey = (rs: CheckResult[], k: string) => {
  const r = rs.find((x) => key(x) === k);
  assert.ok(r, `no ${k} line in ${rs.map(key).join(', ')}`);
  return r!;
};
const statuses = (rs: CheckResult[]) => Object.fromEntries(rs.map((r) => [key(r), r.status]));
const show = (rs: CheckResult[]) => rs.map((r) => line(r)).join('');

/** what each simulator was told to do, beyond reads */
const commands = (s: Sims) => ({
  am: s.am.map((x) => x.posts.length),
  wm: s.wm.map((x) => x.requests.filter((r) => ['power_off', 'power_on', 'set_power_pct'].includes(r.cmd)).map((r) => r.cmd)),
  av: s.av.map((x) => x.requests.filter((r) => r.command === 'ascset' && !/^0,help$/.test(r.parameter ?? '')).map((r) => r.parameter)),
  machines: [...s.am, ...s.wm, ...s.av].map((x) => x.machine.log.map((e) => e.what)),
});

t('One miner of each family: each answers and takes its credentials; without --switch-miners nothing but reads is sent', async () => {
  const s = await sims({ am: [{}], wm: [{}], av: [{}] });
  try {
    const rs = await minerChecks([amEntry(s.am[0], 's19'), wmEntry(s.wm[0], 'm30'), avEntry(s.av[0], 'a1466')]);
    assert.equal(rs.map(key), ['miner s19', 'miner m30', 'miner a1466', 'login s19', 'login m30', 'login a1466', 'switch s19', 'switch m30', 'switch a1466']);
    const order = rs.map((r) => CHECKS.indexOf(r.check));
    assert.equal(order, [...order].sort((a, b) => a - b), 'in the order of CHECKS');
    for (const id of ['s19', 'm30', 'a1466']) {
      assert.is(byKey(rs, `miner ${id}`).status, 'pass', show(rs));
      assert.is(byKey(rs, `login ${id}`).status, 'pass', show(rs));
      const sw = byKey(rs, `switch ${id}`);
      assert.is(sw.status, 'skip');
      assert.match(sw.detail, /not tried/);
      assert.match(sw.hint!, /--switch-miners/);
    }
    const am = byKey(rs, 'miner s19');
    assert.match(am.detail, /Bitmain Antminer S19 Pro/);
    assert.match(am.detail, /hashing, 3\.2\d kW \(estimated\)/);
    assert.is(am.data!.driver, 'antminer');
    const wm = byKey(rs, 'miner m30');
    assert.match(wm.detail, /MicroBT Whatsminer M30S\+\+VH40, firmware 20230314\.15\.Rel \(API v2\)/);
    assert.is(wm.data!.kw_measured, true);
    assert.match(byKey(rs, 'miner a1466').detail, /Canaan Avalon/);
    assert.match(byKey(rs, 'login s19').detail, /HTTP Digest, realm "antMiner Configuration"/);
    assert.match(byKey(rs, 'login m30').detail, /API v2 issued a token/);
    assert.match(byKey(rs, 'login a1466').detail, /write access/);
    // the switch check's skip prints its reason as a "why" line
    assert.match(line(byKey(rs, 'switch s19')), /^SKIP  switch s19 .*\n {6}why: run `hashflex doctor -c FILE --switch-miners`/);
    assert.equal(commands(s), { am: [0], wm: [[]], av: [[]], machines: [[], [], []] }, 'no stop, no wake, no setting sent to any miner');
  } finally {
    await s.close();
  }
});

t('--switch-miners: each miner stops and wakes, and ends as it was found (hashing at its setting, or asleep)', async () => {
  const s = await sims({ am: [{}, { mode: 3 }, { mode: 1 }], wm: [{}], av: [{}] });
  try {
    const rs = await minerChecks([
      amEntry(s.am[0], 'am-normal'), amEntry(s.am[1], 'am-low'), amEntry(s.am[2], 'am-asleep'), wmEntry(s.wm[0], 'wm'), avEntry(s.av[0], 'av'),
    ], { switchMiners: true });
    assert.equal(Object.values(statuses(rs)).filter((x) => x !== 'pass'), [], show(rs));
    for (const id of ['am-normal', 'am-low', 'am-asleep', 'wm', 'av']) {
      const sw = byKey(rs, `switch ${id}`);
      assert.is(sw.data!.left_as_found, true, sw.detail);
      const steps = sw.data!.steps as Array<{ what: string; ok: boolean; accepted_ms: number; done_ms: number }>;
      assert.is(steps.length, 2);
      assert.ok(steps.every((x) => x.ok && x.done_ms >= x.accepted_ms), JSON.stringify(steps));
      assert.match(sw.detail, /after \d+\.\d s/);
    }
    const whats = (id: string) => (byKey(rs, `switch ${id}`).data!.steps as Array<{ what: string }>).map((x) => x.what);
    // hashing miners: stopped first, then woken straight at their own setting
    assert.equal(whats('am-normal'), ['stop', 'wake at setting 2']);
    assert.equal(whats('am-low'), ['stop', 'wake at setting 1']);
    // a sleeping one: woken at its highest setting, then put back to sleep
    assert.equal(whats('am-asleep'), ['wake at setting 2', 'stop']);
    assert.match(byKey(rs, 'switch am-asleep').detail, /left sleeping as found/);
    assert.match(byKey(rs, 'switch wm').detail, /left hashing at setting 100 as found/);

    const [normal, low, sleeping] = s.am;
    assert.equal(normal.machine.log.map((e) => e.what), ['sleep mode', 'normal mode']);
    assert.is(normal.mode, 0);
    assert.equal(low.machine.log.map((e) => e.what), ['sleep mode', 'low power mode']);
    assert.is(low.mode, 3);
    assert.equal(sleeping.machine.log.map((e) => e.what), ['normal mode', 'sleep mode']);
    assert.is(sleeping.mode, 1);
    assert.equal(s.wm[0].machine.log.map((e) => e.what), ['power_off', 'power_on', 'set_power_pct 100']);
    assert.is(s.wm[0].percent, 100);
    assert.equal(s.av[0].machine.log.map((e) => e.what), ['softoff', 'softon']);
    assert.is(s.av[0].softOff, false);
    assert.is(s.av[0].level, A1466.levels.hi);
    // and the pools are still what the miner had
    assert.equal(normal.conf.pools, normal.posts[0].pools);
    for (const m of [normal.machine, low.machine, s.wm[0].machine, s.av[0].machine]) assert.is(m.state, 'hashing');
    assert.ok(['sleeping', 'stopping'].includes(sleeping.machine.state), sleeping.machine.state);
  } finally {
    await s.close();
  }
});

t('Firmware that takes the stop and ignores it: the switch check fails with the hint, and the miner is woken back as found', async () => {
  const s = await sims({ av: [{}] });
  s.av[0].faults.ignoreSoftPower = true;
  try {
    const rs = await minerChecks([avEntry(s.av[0], 'av')], { switchMiners: true, minerStopTimeoutMs: 1000 });
    const sw = byKey(rs, 'switch av');
    assert.is(sw.status, 'fail', show(rs));
    assert.match(sw.detail, /stop: accepted in \d+ ms, but after 1\.0 s it reads stopping/);
    assert.match(sw.detail, /left hashing at setting 3 as found/);
    assert.match(sw.hint!, /took the stop, but its readings do not show it asleep/);
    assert.is(sw.data!.left_as_found, true);
    assert.equal(s.av[0].requests.filter((r) => r.command === 'ascset' && r.parameter !== '0,help').map((r) => r.parameter!.replace(/:\d+$/, '')), ['0,softoff,1', '0,worklevel,set,2', '0,softon,1']);
  } finally {
    await s.close();
  }
});

t('Interrupted mid-stop (Ctrl-C): the wake is sent at once, and the miner goes back to hashing', async () => {
  const s = await sims({ am: [{ spec: { ...AM_SPEC, stopMs: 3000 } }] });
  try {
    const abort = new AbortController();
    const done = minerChecks([amEntry(s.am[0], 'am')], { switchMiners: true, signal: abort.signal });
    for (let i = 0; i < 250 && !s.am[0].machine.log.length; i++) await new Promise((r) => setTimeout(r, 20));
    abort.abort();
    const rs = await done;
    const sw = byKey(rs, 'switch am');
    assert.is(sw.status, 'fail');
    assert.match(sw.detail, /interrupted; wake sent to leave it hashing at setting 2 as found/, show(rs));
    assert.equal(s.am[0].machine.log.map((e) => e.what), ['sleep mode', 'normal mode']);
    assert.is(s.am[0].mode, 0);
    assert.ok(['waking', 'hashing'].includes(s.am[0].machine.state));
  } finally {
    await s.close();
  }
});

t('A password the miner refuses: its miner line passes, its login fails with the credentials hint, and it is not switched', async () => {
  const s = await sims({ am: [{ password: 'the-real-one' }], wm: [{ password: 'changed-on-site' }] });
  try {
    const secret = path.join(dir, 'am.secret');
    fs.writeFileSync(secret, 'not-the-password\n', { mode: 0o600 });
    const rs = await minerChecks([amEntry(s.am[0], 'am', { password_file: secret }), wmEntry(s.wm[0], 'wm')], { switchMiners: true });
    assert.equal(statuses(rs), { 'miner am': 'pass', 'miner wm': 'pass', 'login am': 'fail', 'login wm': 'fail', 'switch am': 'skip', 'switch wm': 'skip' }, show(rs));
    const am = byKey(rs, 'login am');
    assert.match(am.detail, /refused the password for user root/);
    assert.match(am.hint!, new RegExp(`the miner refused the password: check miners\\[0\\]\\.password_file \\(${secret.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\)`));
    const wm = byKey(rs, 'login wm');
    assert.match(wm.detail, /refused the admin password \(API v2\)/);
    assert.match(wm.hint!, /refused the firmware default \(admin\).*miners\[1\]\.password_file/);
    assert.is(wm.data!.password_from, 'firmware default');
    assert.equal(commands(s), { am: [0], wm: [[]], av: [], machines: [[], []] });
  } finally {
    await s.close();
  }
});

t('A host with nothing listening fails its miner check with the reachable hint; an Avalon that refuses writes fails its login', async () => {
  const s = await sims({ av: [{}] });
  s.av[0].faults.denyWrites = true;
  const nobody = `${subnet()}.9`;
  try {
    const rs = await minerChecks([{ id: 'gone', host: nobody, driver: 'antminer', timeout_ms: 500 }, avEntry(s.av[0], 'av')]);
    assert.equal(statuses(rs), { 'miner gone': 'fail', 'miner av': 'pass', 'login gone': 'skip', 'login av': 'fail', 'switch gone': 'skip', 'switch av': 'skip' }, show(rs));
    const gone = byKey(rs, 'miner gone');
    assert.match(gone.detail, new RegExp(`nothing answers at ${nobody.replace(/\./g, '\\.')} \\(4028 refused, web refused`));
    assert.match(gone.hint!, /powered and on this board's LAN \(ping .*miners\[0\]\.host.*hashflex discover 127\.26\.\d+\.0\/24/);
    assert.equal((gone.data!.probe as { api: string }).api, 'refused');
    assert.match(byKey(rs, 'login gone').hint!, /fix its miner check first/);
    const av = byKey(rs, 'login av');
    assert.match(av.detail, /code 45/);
    assert.match(av.hint!, /allow list/);
  } finally {
    await s.close();
  }
});

t('A host that answers as another family: the hint names the driver it needs', async () => {
  const s = await sims({ am: [{}] });
  try {
    const rs = await minerChecks([{ ...amEntry(s.am[0], 'x'), driver: 'whatsminer' }]);
    const r = byKey(rs, 'miner x');
    assert.is(r.status, 'fail', show(rs));
    assert.match(r.detail, /answers as a Bitmain Antminer S19 Pro .*not as a MicroBT Whatsminer/, show(rs));
    assert.match(r.hint!, /set miners\[0\]\.driver: antminer \(or auto\)/);
    assert.is(s.am[0].posts.length, 0);
  } finally {
    await s.close();
  }
});

t('In the whole run the miner lines come after the device checks and before the uplink; a failing miner makes the report fail', async () => {
  const s = await sims({ am: [{}] });
  try {
    const config = configOf([amEntry(s.am[0], 's19'), { id: 'gone', host: `${subnet()}.9`, driver: 'avalon', timeout_ms: 300 }]);
    const rep = await runDoctor(config, { ...FAST, meterTimeoutMs: 300, switchMiners: true });
    assert.equal(rep.results.map(key), ['config', 'meter', 'io', 'relay', 'miner s19', 'miner gone', 'login s19', 'login gone', 'switch s19', 'switch gone', 'uplink', 'clock', 'storage']);
    assert.match(byKey(rep.results, 'config').detail, /2 miner\(s\)/);
    assert.is(byKey(rep.results, 'switch s19').status, 'pass');
    assert.is(byKey(rep.results, 'miner gone').status, 'fail');
    assert.not.ok(rep.ok);
    assert.is(s.am[0].mode, 0);
  } finally {
    await s.close();
  }
});

t('`hashflex doctor --switch-miners --json` switches the miner and carries the lines', async () => {
  const s = await sims({ am: [{}] });
  try {
    const file = path.join(dir, 'cli.yaml');
    fs.writeFileSync(file, YAML.stringify({ agent: { id: 'a1' }, meter: { tcp: '127.0.0.1:1' }, miners: [amEntry(s.am[0], 's19')], storage: { dir } }));
    const p = hashflex(['doctor', '-c', file, '--switch-miners', '--json']);
    const code = await p.exited;
    assert.is(code, 1, 'the meter is missing: not commissioned');
    const doc = JSON.parse(p.out()) as { ok: boolean; results: CheckResult[] };
    assert.equal(['miner s19', 'login s19', 'switch s19'].map((k) => byKey(doc.results, k).status), ['pass', 'pass', 'pass'], p.out());
    assert.equal(s.am[0].machine.log.map((e) => e.what), ['sleep mode', 'normal mode']);
    assert.is(s.am[0].mode, 0);
  } finally {
    await s.close();
  }
});

t.after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

t.run();
