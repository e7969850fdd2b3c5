import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ControlEvent } from '../agent/control/types';
import { virtualSite } from './harness/virtual-site';

// Network miners through the site's one seam: the same control core, trip path and telemetry as
// hashboards (agent/runner.ts, agent/miner-runner.ts), on virtual time over stand-in drivers.

async function minerSite(miners: number, config: Record<string, unknown> = {}) {
  const r = await virtualSite({ boards: 0, miners, config: { control: { mode: 'setpoint', setpoint_kw: 6, board_on_delay_ms: 0, stagger_ms: 0, ...(config.control as object) }, ...config } });
  r.plant.generationKw = 0;
  await r.start();
  return r;
}

test('control runs network miners at a setting on their own scale, within the target', async () => {
  const r = await minerSite(3);
  await r.run(120_000);
  const kw = r.miners.reduce((sum, m) => sum + m.status().kw, 0);
  assert.ok(kw <= 6.01 && kw > 5, `miners draw ${kw.toFixed(2)} kW for a 6 kW setpoint`);
  for (const m of r.miners) for (const c of m.commands) assert.match(c, /^set (0|[2-9]\d|100)$/, 'percent settings only');
  await r.s.stop();
});

test('a curtail sends every miner its stop at once and resolves when every API accepted it; `settled` follows when the power is gone', async () => {
  const r = await minerSite(3);
  await r.run(120_000);
  const before = r.miners.map((m) => m.commands.length);
  const done = r.s.curtail();
  assert.equal(r.miners.map((m, i) => m.commands.slice(before[i])), [['stop'], ['stop'], ['stop']], 'all three stops sent in the same tick');
  let resolved = false;
  void done.then(() => { resolved = true; });
  await new Promise((res) => setImmediate(res));
  assert.is(resolved, false, 'not before the APIs answer');
  await r.run(100);
  assert.equal(await done, []);
  assert.ok(r.machines.every((m) => m.kw > 1), 'still drawing power while the machines stop');
  await r.run(10_000);
  const settled = r.events.filter((e): e is Extract<ControlEvent, { kind: 'settled' }> => e.kind === 'settled');
  assert.is(settled.length, 1);
  assert.is(settled[0].ok, true);
  assert.is(settled[0].source, 'command');
  assert.ok(settled[0].ms >= 5000 && settled[0].ms <= 7000, `power gone ${settled[0].ms} ms after the trip (stop takes 5 s)`);
  await r.s.stop();
});

test('a miner whose API does not take the stop is reported by the curtail; the others stop', async () => {
  const r = await minerSite(2);
  await r.run(120_000);
  r.miners[1].faults.down = true;
  const done = r.s.curtail();
  await r.run(100);
  const notOff = await done;
  assert.is(notOff.length, 1);
  assert.match(notOff[0], /^m1: stop not accepted/);
  await r.run(10_000);
  assert.is(r.machines[0].state, 'sleeping');
  await r.s.stop();
});

test('a miner that stops answering is a fault the others ride through, tried again every board_retry_ms', async () => {
  const r = await minerSite(3, { control: { setpoint_kw: 9 } });
  await r.run(120_000);
  r.miners[2].faults.down = true;
  await r.run(10_000);
  assert.is(r.count('fault', 'miner:m2'), 1);
  assert.is(r.s.controller.state, 'fault');
  assert.ok(r.miners[0].status().on && r.miners[1].status().on, 'the others keep hashing');
  assert.match(r.s.telemetry().network_miners?.[2].fault ?? '', /unreachable/);
  r.miners[2].faults.down = false;
  await r.run(r.retryMs + 180_000);
  assert.is(r.count('recover', 'miner:m2'), 1);
  assert.is(r.s.controller.state, 'running');
  await r.s.stop();
});

test('a miner switched off by control rests for miner_min_off_ms before it runs again', async () => {
  const r = await minerSite(2, { control: { mode: 'surplus', miner_min_off_ms: 120_000, miner_min_on_ms: 0 } });
  r.plant.generationKw = 7;
  await r.run(120_000);
  assert.equal(r.miners.map((m) => m.status().on), [true, true]);
  r.plant.generationKw = 1.2; // room for one at its lowest setting, not two
  await r.run(20_000);
  const off = r.miners.findIndex((m) => !m.status().on);
  assert.ok(off >= 0, 'one miner off');
  const sets = r.miners[off].commands.length;
  r.plant.generationKw = 7; // room for two again
  await r.run(60_000);
  assert.is(r.miners[off].commands.length, sets, 'no command to the resting miner within its minimum off time');
  await r.run(120_000);
  assert.ok(r.miners[off].status().on, 'back after its rest');
  await r.s.stop();
});

test('miners found hashing at start are loads already on: reduced, never stopped and restarted because control assumed them off', async () => {
  const r = await virtualSite({ boards: 0, miners: 3, config: { control: { mode: 'surplus', board_on_delay_ms: 30_000, stagger_ms: 0 } } });
  for (const m of r.machines) { m.state = 'hashing'; m.kw = m.spec.ratedKw; }
  r.plant.generationKw = 2.5; // room for one miner, at part power
  await r.start();
  await r.run(120_000);
  for (const m of r.miners) {
    const off = m.commands.findIndex((c) => c === 'set 0' || c === 'stop');
    const on = m.commands.findIndex((c, i) => i > off && /^set [1-9]/.test(c));
    assert.ok(off < 0 || on < 0, `${m.id} stopped and restarted: ${m.commands.join(', ')}`);
  }
  const kw = r.miners.reduce((sum, m) => sum + m.status().kw, 0);
  assert.ok(kw <= 2.55, `within the surplus: ${kw.toFixed(2)} kW`);
  await r.s.stop();
});

test('telemetry lists each network miner with its own fields', async () => {
  const r = await minerSite(1);
  await r.run(60_000);
  const t = r.s.telemetry();
  assert.equal(Object.keys(t.network_miners![0]).sort(), ['id', 'kw', 'on', 'state', 'temp_c', 'ths']);
  assert.is(t.network_miners![0].id, 'm0');
  assert.ok(t.miners.kw > 0, 'miners.kw counts the network miners');
  await r.s.stop();
});

test.run();
