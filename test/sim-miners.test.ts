import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { startSimController, type SimController } from '../sim/controller';
import { fleetPlan, startFleet } from '../sim/miners/fleet';
import { parseExpectation, parseFault } from '../sim/scenarios/cells';
import { FIXTURES, readSummary, sim, tmp } from './fixtures/scenarios/run';
import { hashflex, until, type Proc } from './harness/cli';

// `hashflex sim --miners N`: network miners of the three families on the simulated site, in both
// rigs and with --hardware-only; the stock-fleet scenario and its per-miner report. Assertions are
// about what happened and in which order; the timing figures are the scenario's own expectations.
const dir = tmp('hashflex-sim-miners-');
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

type MinerRow = { id: string; family: string; host?: string; curtails: { stop_accepted_ms: number | null; power_gone_s: number | null; asleep: boolean }[]; faults: string[] };

test('The scenario vocabulary has miner-down ID S and the two miner expectations', () => {
  assert.equal(parseFault('miner-down wm1 45', 600), { atS: 600, kind: 'miner-down', durationS: 45, target: 'wm1' });
  assert.throws(() => parseFault('miner-down 45', 0), /miner-down needs the miner's id/);
  assert.equal(parseExpectation("every miner's stop accepted within 1000 ms of curtail"), { text: "every miner's stop accepted within 1000 ms of curtail", kind: 'miners-stop-within', ms: 1000 });
  assert.equal(parseExpectation('power gone within 30 s of curtail').kind, 'power-gone-within');
  assert.equal(parseExpectation('settled within 30 s of curtail'), { text: 'settled within 30 s of curtail', kind: 'power-gone-within', s: 30 });
  assert.throws(() => parseExpectation('power gone within soon s of curtail'), /seconds > 0/);
});

test('stock-fleet at --speed max passes its expectations and its report has a row per miner', async () => {
  const report = path.join(dir, 'stock-fleet.html');
  const r = await sim(['--scenario', 'stock-fleet', '--speed', 'max', '--report', report]);
  const s = readSummary(report) as ReturnType<typeof readSummary> & { network_miners: MinerRow[]; settled: { ok: boolean; ms: number }[] };
  assert.is(s.verdict, 'pass', r.out);
  assert.is(r.code, 0);
  assert.match(r.out, /^hashflex sim: 2 boards and 9 network miners \(3 antminer, 3 whatsminer, 3 avalon\)/);
  assert.match(r.out, /^miners: 9 network miners; slowest stop accepted \d+ ms after the curtail/m);
  assert.is(s.boards, 2);
  assert.equal(s.network_miners.map((m) => m.id), ['am0', 'wm0', 'av0', 'am1', 'wm1', 'av1', 'am2', 'wm2', 'av2']);
  for (const m of s.network_miners) {
    assert.is(m.curtails.length, 1, m.id);
    const c = m.curtails[0];
    assert.ok(c.stop_accepted_ms !== null && c.stop_accepted_ms <= 1000, `${m.id}: ${JSON.stringify(c)}`);
    assert.ok(c.power_gone_s !== null && c.power_gone_s <= 30, `${m.id}: ${JSON.stringify(c)}`);
  }
  const wm1 = s.network_miners.find((m) => m.id === 'wm1')!;
  assert.match(wm1.faults.join('\n'), /^miner-down 600–660 s$/m);
  assert.match(wm1.faults.join('\n'), /^fault at 60\d\.\d+ s \(/m);
  assert.equal(s.settled.map((x) => x.ok), [true]);
  assert.equal(s.expectations.map((x) => x.result), s.expectations.map(() => 'pass'));
  const html = fs.readFileSync(report, 'utf8');
  assert.match(html, /<h2>Network miners<\/h2>/);
  assert.match(html, /<th>miner<\/th><th>family<\/th><th>address<\/th><th>stop accepted after<\/th><th>power gone after<\/th><th>faults<\/th>/);
  for (const m of s.network_miners) assert.match(html, new RegExp(`<tr><td>${m.id}</td><td>${m.family}</td><td>127\\.30\\.`));
  assert.not.match(html, /<script|src="http/);
  // the same scenario and seed give the same summary in the time-leap rig
  const again = path.join(dir, 'stock-fleet-2.html');
  await sim(['--scenario', 'stock-fleet', '--speed', 'max', '--report', again]);
  assert.equal(readSummary(again), readSummary(report));
});

test('The real-wire rig drives three stock miners through their firmware APIs on loopback, and a curtail stops all three', async () => {
  const report = path.join(dir, 'wire-miners.html');
  const logFile = path.join(dir, 'wire-miners.log');
  const before = process.env.HASHFLEX_LOG_FILE;
  process.env.HASHFLEX_LOG_FILE = logFile;
  let r;
  try {
    r = await sim(['--scenario', path.join(FIXTURES, 'miners-curtail.csv'), '--duration', '35', '--report', report]);
  } finally {
    if (before === undefined) delete process.env.HASHFLEX_LOG_FILE;
    else process.env.HASHFLEX_LOG_FILE = before;
  }
  const s = readSummary(report) as ReturnType<typeof readSummary> & { network_miners: MinerRow[]; settled: { ok: boolean }[] };
  assert.is(s.rig, 'wire');
  assert.is(s.verdict, 'pass', r.out);
  assert.is(r.code, 0);
  assert.equal(s.network_miners.map((m) => [m.id, m.family]), [['am0', 'antminer'], ['wm0', 'whatsminer'], ['av0', 'avalon']]);
  assert.ok(s.commands[0].action === 'curtail' && s.commands[0].delivered && s.commands[0].ok, JSON.stringify(s.commands));
  for (const m of s.network_miners) {
    const c = m.curtails[0];
    assert.ok(!c.asleep && c.stop_accepted_ms !== null && c.power_gone_s !== null, `${m.id}: ${JSON.stringify(c)}`);
  }
  assert.equal(s.settled.map((x) => x.ok), [true]);
  assert.match(fs.readFileSync(report, 'utf8'), /<h2>Network miners<\/h2>/);
});

test('--hardware-only --miners 3 writes them into sim.json and agent.yaml; config check accepts it and hashflex run drives them', async () => {
  const out = path.join(dir, 'hw');
  let simProc: Proc | undefined;
  let agent: Proc | undefined;
  let controller: SimController | undefined;
  try {
    simProc = hashflex(['sim', '--hardware-only', '--out', out, '--miners', '3', '--boards', '0']);
    await until(() => fs.existsSync(path.join(out, 'agent.yaml')) && simProc!.out().includes('run the agent'), 'sim files', 30_000);
    const endpoints = JSON.parse(fs.readFileSync(path.join(out, 'sim.json'), 'utf8'));
    assert.equal(endpoints.boards, []);
    assert.equal(endpoints.miners.map((m: { id: string; driver: string }) => [m.id, m.driver]), [['am0', 'antminer'], ['wm0', 'whatsminer'], ['av0', 'avalon']]);
    for (const m of endpoints.miners) {
      assert.match(m.host, /^127\.30\.\d+\.\d+$/);
      assert.type(m.ports.api, 'number');
    }
    const file = path.join(out, 'agent.yaml');
    const config = YAML.parse(fs.readFileSync(file, 'utf8'));
    assert.equal(config.miners.map((m: { id: string; host: string; driver: string }) => [m.id, m.host, m.driver]), endpoints.miners.map((m: { id: string; host: string; driver: string }) => [m.id, m.host, m.driver]));
    assert.ok(config.miners.every((m: Record<string, unknown>) => m.password === undefined && m.password_file === undefined), 'the firmware defaults: no password');
    const check = hashflex(['config', 'check', file]);
    assert.is(await check.exited, 0, check.out() + check.err());

    controller = await startSimController({ token: 'miners-token-123' });
    config.uplink = { url: controller.url, token: 'miners-token-123' };
    fs.writeFileSync(file, YAML.stringify(config));
    agent = hashflex(['run', '-c', file]);
    type Tel = { state: string; network_miners?: { id: string; on: boolean; state: string; fault?: string }[] };
    await until(() => {
      const t = controller!.latest('sim-board') as Tel | undefined;
      return t?.network_miners?.length === 3 && t.network_miners.every((m) => !m.fault && m.state !== 'unknown');
    }, 'telemetry with three answering miners', 30_000);
    const ack = await controller.command('sim-board', 'curtail');
    assert.is(ack.ok, true, JSON.stringify(ack));
    const off = await until(() => {
      const t = controller!.latest('sim-board') as Tel | undefined;
      return t?.state === 'curtailed' && t.network_miners?.every((m) => !m.on) ? t : undefined;
    }, 'every miner off', 30_000);
    assert.is(off.network_miners!.length, 3);
    const settled = await until(() => controller!.agents.get('sim-board')?.events.find((e) => e.kind === 'settled'), 'settled event', 30_000);
    assert.is(settled.ok, true);
    agent.child.kill('SIGTERM');
    assert.is(await agent.exited, 0, agent.err());
    simProc.child.kill('SIGTERM');
    assert.is(await simProc.exited, 0, simProc.err());
  } finally {
    for (const p of [agent, simProc]) if (p && p.child.exitCode === null) { p.child.kill('SIGKILL'); await p.exited; }
    await controller?.close();
  }
});

test('A second simulated fleet on the machine moves to the next address slot', async () => {
  const a = await startFleet(fleetPlan(3));
  try {
    const b = await startFleet(fleetPlan(3));
    try {
      assert.ok(b.slot > a.slot, `${a.slot} then ${b.slot}`);
      assert.not.equal(b.miners.map((m) => m.host), a.miners.map((m) => m.host));
    } finally {
      await b.close();
    }
  } finally {
    await a.close();
  }
});

test('Site sizes and miner faults the site cannot have are usage errors', async () => {
  const { main } = await import('../agent/cli');
  const file = path.join(dir, 'down.csv');
  fs.writeFileSync(file, 't_s,hz,generation_kw,load_kw,fault\n0,60,5,1,miner-down wm5 5\n');
  const err = process.stderr.write;
  let text = '';
  process.stderr.write = ((s: string) => { text += s; return true; }) as typeof process.stderr.write;
  try {
    assert.is(await main(['sim', '--boards', '0', '--speed', 'max']), 2);
    assert.is(await main(['sim', '--miners', '1001', '--speed', 'max']), 2);
    assert.is(await main(['sim', '--miners', '-1', '--speed', 'max']), 2);
    assert.is(await main(['sim', '--scenario', file, '--miners', '3', '--speed', 'max']), 2);
  } finally {
    process.stderr.write = err;
  }
  assert.match(text, /--boards 0 needs --miners N/);
  assert.match(text, /--miners must be an integer 0\.\.1000/);
  assert.match(text, /targets wm5, but the site has miners am0, wm0, av0 \(--miners 3\)/);
});

test.run();
