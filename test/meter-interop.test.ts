import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { realClock } from '../agent/clock';
import type { MeterSample } from '../agent/hardware';
import { BusRegistry, createMeter } from '../drivers/meter';
import { startSimMeter } from '../sim/meter';
import { Plant } from '../sim/plant';
import { openWire } from '../sim/wire';
import { nextEvent, tmpDir } from './fixtures/meter/rig';
import { needs, peer } from './harness/peers';

/**
 * Conformance against independent implementations: Debian's mbpoll (libmodbus) reads the
 * simulated SDM630, and the driver reads a pymodbus server laid out as an SDM630. Each test is
 * skipped where its peer is missing (harness/peers).
 */
const run = promisify(execFile);

/**
 * One mbpoll read of a float input register. -1 one poll; -t 3:float input registers as
 * float32; -B big-endian word order (high word first, as the SDM630); -r 1-based reference;
 * the device or host comes last. Async: the sim answers from this same process.
 */
async function mbpollFloat(link: string[], target: string, unit: number, ref: number): Promise<{ value: number; out: string }> {
  const args = [...link, '-a', String(unit), '-t', '3:float', '-B', '-r', String(ref), '-c', '1', '-1', '-o', '2', target];
  const res = await run('mbpoll', args, { timeout: 10_000 }).catch((e: { stdout?: string; stderr?: string }) => ({ stdout: `${e.stdout ?? ''}${e.stderr ?? ''}` }));
  const m = new RegExp(`\\[${ref}\\]:\\s+(-?[0-9.]+)`).exec(res.stdout);
  return { value: m ? Number(m[1]) : NaN, out: res.stdout };
}

function simPlant(): Plant {
  const plant = new Plant();
  plant.baseLoadKw = 9.5;
  plant.generationKw = 2.25;
  plant.hz = 59.93;
  return plant;
}

needs('mbpoll')('mbpoll reads the simulated SDM630 frequency and total power as floats over Modbus TCP', async () => {
  const sim = await startSimMeter({ plant: simPlant(), model: 'sdm630', unit: 1 });
  try {
    const link = ['-m', 'tcp', '-p', sim.tcp.split(':')[1]];
    const hz = await mbpollFloat(link, '127.0.0.1', 1, 71); // register 30071: frequency
    const w = await mbpollFloat(link, '127.0.0.1', 1, 53); // register 30053: total system power
    assert.ok(Math.abs(hz.value - 59.93) < 0.01, hz.out);
    assert.ok(Math.abs(w.value - 7250) < 2, w.out);
    const bad = await mbpollFloat(link, '127.0.0.1', 1, 4097); // unmapped
    assert.ok(Number.isNaN(bad.value));
    assert.match(bad.out, /Illegal data address/i);
  } finally {
    await sim.close();
  }
});

needs(['mbpoll', 'socat'])('mbpoll reads the simulated SDM630 frequency and total power as floats over RTU on a pty', async () => {
  const dir = tmpDir();
  const wire = await openWire('sdm630', dir, true);
  const sim = await startSimMeter({ plant: simPlant(), model: 'sdm630', unit: 4, rtu: wire, tcp: false });
  try {
    // SDM630 factory setting: 9600 baud, no parity, 1 stop bit
    const link = ['-m', 'rtu', '-b', '9600', '-P', 'none', '-s', '1'];
    const dev = (wire.endpoint as { path: string }).path;
    const hz = await mbpollFloat(link, dev, 4, 71);
    const w = await mbpollFloat(link, dev, 4, 53);
    assert.ok(Math.abs(hz.value - 59.93) < 0.01, hz.out);
    assert.ok(Math.abs(w.value - 7250) < 2, w.out);
  } finally {
    await sim.close();
    await wire.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

needs('python3-pymodbus')('The driver reads an independent pymodbus server laid out as an SDM630', async () => {
  // Debian's python3-pymodbus imports only in the system interpreter: peer() finds a python3 that has it
  const py = spawn(peer('python3-pymodbus')!, [path.join(__dirname, 'fixtures/meter/pymodbus_sdm630.py'), '5', '4321.5', '50.02', '1234.5', '67.25'], { stdio: ['pipe', 'pipe', 'ignore'] });
  const buses = new BusRegistry();
  try {
    const port = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('pymodbus server did not start')), 15_000);
      py.once('error', (e) => { clearTimeout(t); reject(e); });
      py.once('exit', (c) => reject(new Error(`pymodbus server exited ${c}`)));
      readline.createInterface({ input: py.stdout! }).on('line', (l) => {
        const m = /^PORT (\d+)/.exec(l);
        if (m) { clearTimeout(t); resolve(m[1]); }
      });
    });
    const meter = createMeter({ model: 'sdm630', tcp: `127.0.0.1:${port}`, unit: 5, poll_ms: 50, stale_ms: 2000, counters_ms: 0 }, realClock, { buses });
    await meter.start();
    try {
      const s = await nextEvent<MeterSample>(meter, 'sample', (x) => x.importKwh !== undefined, 10_000);
      assert.ok(Math.abs(s.hz - 50.02) < 1e-3, `hz ${s.hz}`);
      assert.ok(s.kw >= 4.3215 && s.kw < 4.5, `kw ${s.kw}`);
      assert.equal(s.importKwh, 1234.5);
      assert.equal(s.exportKwh, 67.25);
      assert.equal(meter.counters.exceptions + meter.counters.timeouts, 0);
    } finally {
      await meter.stop();
    }
  } finally {
    py.stdin!.end();
    if (py.pid !== undefined && py.exitCode === null && py.signalCode === null) await new Promise((r) => { py.once('exit', r); setTimeout(() => py.kill('SIGTERM'), 2000).unref(); });
  }
});

test.run();
