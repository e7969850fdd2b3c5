import fs from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { realClock } from '../agent/clock';
import type { MeterSample } from '../agent/hardware';
import net from 'node:net';
import { BusRegistry, createMeter, probeMeter } from '../drivers/meter';
import { startSimMeter, type SimMeterModel } from '../sim/meter';
import { Plant } from '../sim/plant';
import { openWire } from '../sim/wire';
import { nextEvent, tmpDir } from './fixtures/meter/rig';
import { needs } from './harness/peers';

/** the RTU-on-a-pty cases need socat; the same walk over Modbus TCP does not */
const ptyTest = needs('socat');

/** SunSpec meters found by the discovery walk, over real transports, following the site. */
async function follow(model: SimMeterModel, via: 'tcp' | 'pty'): Promise<void> {
  const plant = new Plant();
  plant.baseLoadKw = 4;
  plant.hz = 50.01;
  plant.importKwh = 321.5;
  const dir = tmpDir();
  const wire = via === 'pty' ? await openWire('sunspec', dir, true) : undefined;
  const sim = await startSimMeter({ plant, model, unit: 2, rtu: wire, tcp: via === 'tcp' });
  const link = via === 'tcp' ? { tcp: sim.tcp } : { serial: { ...wire!.endpoint, baud: 115200 } };
  const meter = createMeter({ model: 'sunspec', ...link, unit: 2, poll_ms: 20, stale_ms: 1000, counters_ms: 0 }, realClock, { buses: new BusRegistry() });
  try {
    await meter.start();
    const s = await nextEvent<MeterSample>(meter, 'sample', (x) => x.importKwh !== undefined);
    assert.ok(Math.abs(s.hz - 50.01) < 0.006, `hz ${s.hz}`);
    assert.ok(Math.abs(s.kw - 4) < 0.002, `kw ${s.kw}`);
    assert.ok(Math.abs(s.importKwh! - 321.5) < 0.01, `import ${s.importKwh}`);
    // the grid meter sees W = base load + boards - generation
    plant.generationKw = 10;
    const s2 = await nextEvent<MeterSample>(meter, 'sample', (x) => x.kw < 0);
    assert.ok(Math.abs(s2.kw - -6) < 0.002, `kw ${s2.kw}`);
    assert.ok(s2.at > s.at);
  } finally {
    await meter.stop();
    await sim.close();
    await wire?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('A SunSpec model 213 (float) meter is discovered and followed over Modbus TCP', () => follow('sunspec', 'tcp'));
ptyTest('A SunSpec model 213 (float) meter is discovered and followed over RTU on a pty', () => follow('sunspec', 'pty'));
test('A SunSpec model 203 (integer + scale factors) meter is discovered and followed over Modbus TCP', () => follow('sunspec203', 'tcp'));
ptyTest('A SunSpec model 203 (integer + scale factors) meter is discovered and followed over RTU on a pty', () => follow('sunspec203', 'pty'));

test('An SDM630 pointed at as a SunSpec meter is reported as a discovery fault, not a crash', async () => {
  const sim = await startSimMeter({ plant: new Plant(), model: 'sdm630', unit: 1 });
  const meter = createMeter({ model: 'sunspec', tcp: sim.tcp, unit: 1, poll_ms: 20, stale_ms: 1000 }, realClock, { buses: new BusRegistry() });
  try {
    await meter.start();
    const f = await nextEvent<{ kind: string }>(meter, 'fault');
    assert.equal(f.kind, 'discovery');
  } finally {
    await meter.stop();
    await sim.close();
  }
});

test('The commissioning probe reports a sample from a live meter and why a dead one failed', async () => {
  const plant = new Plant();
  plant.baseLoadKw = 2;
  const sim = await startSimMeter({ plant, model: 'sunspec', unit: 1 });
  try {
    const live = await probeMeter({ model: 'sunspec', tcp: sim.tcp, unit: 1, poll_ms: 50, stale_ms: 1000 });
    assert.ok(live.ok);
    assert.ok(Math.abs(live.sample!.kw - 2) < 0.01);
  } finally {
    await sim.close();
  }
  // a port nobody listens on: take a free one and close it again
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  const dead = await probeMeter({ model: 'sdm630', tcp: `127.0.0.1:${port}`, unit: 1, poll_ms: 50, stale_ms: 1000 }, 500);
  assert.equal(dead.ok, false);
  assert.ok(dead.faults.length > 0 && dead.faults.every((f) => f.startsWith('disconnected')), dead.faults.join('; '));
  const missing = await probeMeter({ model: 'sdm630', serial: { path: '/nonexistent/ttyUSB9', baud: 9600 }, unit: 1, poll_ms: 50, stale_ms: 1000 }, 300);
  assert.equal(missing.ok, false);
  assert.ok(missing.faults[0]?.startsWith('disconnected'), missing.faults.join('; '));
});

test.run();
