import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VirtualClock } from '../agent/clock';
import { createMiner, identifyMiner } from '../drivers/miner';
import { AutoMiner } from '../drivers/miner/auto';
import { identify as antminerIdentify } from '../drivers/miner/antminer';
import { BraiinsMiner } from '../drivers/miner/braiins';
import { discover } from '../drivers/miner/discover';
import { probeHost } from '../drivers/miner/probe';
import { bundleOptions } from '../scripts/package/build';
import { SimBraiins } from '../sim/miners/braiins';

/**
 * Finding a Braiins OS+ miner as `hashflex discover` and `driver: auto` do, against the simulated
 * firmware on the firmware's own ports (4028, 80, 50051) at addresses of 127.25.3.0/24; and the
 * driver running from a single-file bundle, as the board package ships it.
 */
let next = 1;
const host = () => `127.25.3.${next++}`;

test('The probe\'s evidence (4028 version and devdetails, GET /) is Braiins OS+, and the stock Antminer rules do not claim it', async () => {
  const h = host();
  const sim = await new SimBraiins({ host: h }).start();
  try {
    const r = await probeHost(h, { identify: identifyMiner, timeoutMs: 1000 });
    assert.is(r.api, 'json');
    assert.is(r.web, 'http');
    assert.match(r.evidence.web?.body ?? '', /Braiins OS/);
    assert.equal(r.identity, { make: 'Bitmain', model: 'Antminer S19j Pro', firmware: 'Braiins OS+ boser-buildroot 0.1.0-0ce150e9', driver: 'braiins' });
    assert.is(antminerIdentify(r.evidence), undefined);
    assert.equal(sim.calls, [], 'probing sent nothing to the gRPC API');
  } finally {
    await sim.close();
  }
});

test('discover finds the miner, names its driver braiins, and reads it once with that driver over gRPC', async () => {
  const h = host();
  const sim = await new SimBraiins({ host: h }).start();
  try {
    const r = await discover({ ranges: [`${h}/32`], timeoutMs: 1000 });
    assert.is(r.miners.length, 1);
    const m = r.miners[0];
    assert.is(m.driver, 'braiins');
    assert.is(m.id, `s19j-pro-${h.replace(/\./g, '-')}`);
    assert.is(m.status?.state, 'hashing');
    assert.is(m.status?.kwMeasured, true);
    assert.is(m.status?.kw, 3.1);
    assert.ok(sim.calls.some((c) => c.method === 'Login'), 'the reading logged in');
  } finally {
    await sim.close();
  }
});

test('driver: auto identifies Braiins OS+ and hands calls to its driver; a stop pauses the miner', async () => {
  const h = host();
  const sim = await new SimBraiins({ host: h }).start();
  const m = createMiner({ id: 'auto-bos', host: h, driver: 'auto', ports: {}, pollMs: 5000, timeoutMs: 1000 }, new VirtualClock()) as AutoMiner;
  try {
    await m.start();
    assert.is(m.driver, 'braiins');
    assert.instance(m.delegate, BraiinsMiner);
    assert.is(m.settings.unit, 'watts');
    assert.is(m.status().state, 'hashing');
    await m.stop();
    assert.is(sim.machine.state, 'stopping');
    assert.is(sim.status, 'paused');
  } finally {
    await m.close();
    await sim.close();
  }
});

test('The driver and its protos run from a single-file bundle in a folder without node_modules', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hashflex-braiins-bundle-'));
  try {
    const out = path.join(dir, 'bos.js');
    const esbuild = require('esbuild') as typeof import('esbuild');
    await esbuild.build({ ...bundleOptions(out, 'test'), entryPoints: [path.join(__dirname, 'fixtures', 'braiins', 'bundle-entry.ts')], banner: {} });
    esbuild.stop(); // its service process would otherwise outlive the build
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, [out, host()], { cwd: dir, env: { PATH: process.env.PATH, HASHFLEX_LOG: 'silent' }, timeout: 20_000 }, (err, so, se) => (err ? reject(new Error(`${err.message}\n${so}${se}`)) : resolve(so)));
    });
    assert.equal(JSON.parse(stdout.trim()), { state: 'hashing', fault: null, kw: 3.1, machine: 'stopping' });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
