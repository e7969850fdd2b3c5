import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runLeap } from '../agent/leap';
import { windSurplus24h } from '../sim/scenarios/builtin';

// The time-leap rig's miner fleets (bench surplus's second table): the same machines with their
// firmware's power settings, or switched on and off only.

const run = (onOff: boolean) => runLeap({
  scenario: windSurplus24h, durationS: 4 * 3600, boards: 0, miners: 3, fleet: { families: ['braiins'], onOff },
  config: { control: { mode: 'surplus', max_kw: 20 } },
});

test('a fleet that trims by power target uses more of a wind surplus than the same fleet switched on and off only', async () => {
  const trimmed = await run(false);
  const switched = await run(true);
  assert.ok(trimmed.surplusKwh > 0 && Math.abs(trimmed.surplusKwh - switched.surplusKwh) < 1e-6, 'the same scenario');
  assert.ok(trimmed.usedKwh > switched.usedKwh * 1.2, `trimmed ${trimmed.usedKwh.toFixed(1)} kWh, switched ${switched.usedKwh.toFixed(1)} kWh`);
});

test('a fleet of one family is that family only, in turn ids', async () => {
  const { fleetPlan } = await import('../sim/miners/fleet');
  assert.equal(fleetPlan(3, ['luxos']).map((m) => [m.id, m.family]), [['lx0', 'luxos'], ['lx1', 'luxos'], ['lx2', 'luxos']]);
  assert.equal(fleetPlan(7).map((m) => m.family).slice(0, 6), ['antminer', 'whatsminer', 'avalon', 'luxos', 'braiins', 'vnish']);
});

test.run();
