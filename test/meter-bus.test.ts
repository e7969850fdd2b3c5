import fs from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { realClock } from '../agent/clock';
import type { MeterSample } from '../agent/hardware';
import { BusRegistry, createMeter } from '../drivers/meter';
import { startSimMeter } from '../sim/meter';
import { Plant } from '../sim/plant';
import { openWire } from '../sim/wire';
import { nextEvent, tmpDir } from './fixtures/meter/rig';
import { needs } from './harness/peers';

/** the pty case needs socat; the raw-TCP case carries the same RTU bytes without it */
const ptyTest = needs('socat');

/**
 * Several meters on one RS-485 line (site grid connection, miners' feed, a third one that died):
 * one connection for the bus, requests serialized, and the dead meter never starves the others.
 */
async function sharedBus(usePty: boolean): Promise<void> {
  const dir = tmpDir();
  const plant = new Plant();
  plant.baseLoadKw = 3;
  const wire = await openWire('rs485', dir, usePty);
  // refreshHz 0: a new measurement every request, so samples count polls (the bus's throughput)
  const sims = await Promise.all([1, 2, 3].map((unit) => startSimMeter({ plant, model: unit === 3 ? 'sunspec' : 'sdm630', unit, rtu: wire, tcp: false, refreshHz: 0 })));
  sims[1].faults.timeout = true; // unit 2 is dead
  const buses = new BusRegistry();
  const meters = [1, 2, 3].map((unit) => createMeter({
    id: `m${unit}`, model: unit === 3 ? 'sunspec' : 'sdm630', serial: { ...wire.endpoint, baud: 115200 }, unit, poll_ms: 20, stale_ms: 500, timeout_ms: 60, backoff_max_ms: 300,
  }, realClock, { buses }));
  const counts = new Map<string, number>();
  for (const m of meters) m.on('sample', () => counts.set(m.id, (counts.get(m.id) ?? 0) + 1));
  try {
    assert.equal(buses.size, 1, 'one connection for the bus');
    await Promise.all(meters.map((m) => m.start()));
    // wait until the live meters have each published 25 samples while unit 2 is dead
    await Promise.all([meters[0], meters[2]].map((m) => nextEvent<MeterSample>(m, 'sample', () => (counts.get(m.id) ?? 0) >= 25, 10_000)));
    assert.equal(counts.get('m2') ?? 0, 0);
    assert.ok(meters[1].stale || meters[1].counters.timeouts > 0);
    assert.ok(sims[1].stats.requests < sims[0].stats.requests / 2, `dead meter backed off: ${sims[1].stats.requests} vs ${sims[0].stats.requests}`);
    assert.equal(meters[0].counters.timeouts, 0, 'live meters never saw the dead one\'s timeouts');
    assert.equal(meters[2].counters.timeouts, 0);
    // unit 2 comes back by itself
    sims[1].heal();
    await nextEvent(meters[1], 'sample', () => true, 10_000);
    assert.equal(buses.size, 1);
  } finally {
    await Promise.all(meters.map((m) => m.stop()));
    assert.equal(buses.size, 0, 'the bus closes with its last meter');
    await Promise.all(sims.map((s) => s.close()));
    await wire.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

ptyTest('Three meters share one RS-485 line on a pty, and a dead one never blocks the others', () => sharedBus(true));
test('Three meters share one RTU line over raw TCP, and a dead one never blocks the others', () => sharedBus(false));

test.run();
