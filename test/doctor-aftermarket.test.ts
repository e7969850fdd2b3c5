import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { validateConfig } from '../agent/config';
import { line, type CheckResult } from '../agent/doctor';
import { checkMiners, checkSwitches, closeMiners } from '../agent/doctor/miners';
import { DOCTOR_DEFAULTS, type DoctorContext } from '../agent/doctor/types';
import { SIM_FAMILIES, type Family, type ServedMiner } from '../sim/miners/families';
import { hashflex, tmpdir } from './harness/cli';

/**
 * The doctor's miner checks on the aftermarket firmware (LuxOS, Braiins OS+, VNish), each served
 * by its simulator through the fleet's family table, over real loopback on 127.29.0.0/16, with
 * machines that stop and wake in well under a second: the same checks as the stock families,
 * through the same driver seam.
 */
const AFTERMARKET: Family[] = ['luxos', 'braiins', 'vnish'];
const QUICK = { stopMs: 300, wakeMs: 600, rampMs: 200 };
const dir = tmpdir('hashflex-doctor-aftermarket-');

async function serveAll(): Promise<{ served: { family: Family; host: string; sim: ServedMiner }[]; close(): Promise<void> }> {
  const served = await Promise.all(AFTERMARKET.map(async (family, i) => {
    const f = SIM_FAMILIES[family];
    const host = `127.29.1.${i + 1}`;
    return { family, host, sim: await f.serve({ id: `${f.prefix}0`, host, spec: { ...f.spec, ...QUICK }, web: 0 }) };
  }));
  let last = Date.now();
  const ticker = setInterval(() => {
    const now = Date.now();
    for (const s of served) s.sim.machine.tick(now - last);
    last = now;
  }, 20);
  return { served, close: async () => { clearInterval(ticker); await Promise.all(served.map((s) => s.sim.close())); } };
}

test('each aftermarket firmware answers as its family, takes its credentials, and stops and wakes with --switch-miners, left as found', async () => {
  const site = await serveAll();
  const miners = site.served.map((s) => ({ id: `${s.family}-1`, host: s.host, driver: s.family, ports: s.sim.ports, timeout_ms: 1000 }));
  const ctx = {
    config: validateConfig({ agent: { id: 'a1' }, meter: { tcp: '127.0.0.1:1' }, miners, storage: { dir } }, path.join(dir, 'agent.yaml')),
    opts: { ...DOCTOR_DEFAULTS, now: Date.now, minerTimeoutMs: 5000, minerPollMs: 100, minerStopTimeoutMs: 8000, minerWakeTimeoutMs: 8000, switchMiners: true },
    miners: new Map(), minersUp: new Set(),
  } as unknown as DoctorContext;
  let results: CheckResult[] = [];
  try {
    results = [...await checkMiners(ctx), ...await checkSwitches(ctx)];
  } finally {
    await closeMiners(ctx);
    await site.close();
  }
  const show = results.map((r) => line(r)).join('');
  for (const f of AFTERMARKET) {
    for (const check of ['miner', 'login', 'switch']) {
      const r = results.find((x) => x.check === check && x.item === `${f}-1`);
      assert.ok(r, `no ${check} line for ${f}:\n${show}`);
      assert.is(r!.status, 'pass', show);
    }
    assert.is(results.find((x) => x.check === 'miner' && x.item === `${f}-1`)!.data?.driver, f, show);
  }
  for (const s of site.served) assert.is(s.sim.machine.hashing, true, `${s.family} left hashing, as found`);
});

test('hashflex discover tells the aftermarket firmware apart from stock Antminers on the firmware\'s own ports, and --out writes their drivers', async () => {
  const served: ServedMiner[] = [];
  const families: Family[] = ['antminer', ...AFTERMARKET];
  try {
    for (const [i, family] of families.entries()) {
      const f = SIM_FAMILIES[family];
      served.push(await f.serve({ id: `${f.prefix}${i}`, host: `127.29.2.${i + 1}`, spec: f.spec, web: 80 }));
    }
    const out = path.join(dir, 'found.yaml');
    const p = hashflex(['discover', '127.29.2.0/29', '--json', '--out', out, '--timeout-ms', '1000']);
    assert.is(await p.exited, 0, p.err());
    const doc = JSON.parse(p.out()) as { miners: { address: string; driver: string; state: string }[] };
    assert.equal(doc.miners.map((m) => [m.address, m.driver, m.state]), families.map((f, i) => [`127.29.2.${i + 1}`, f, 'hashing']));
    const yaml = fs.readFileSync(out, 'utf8');
    for (const f of families) assert.match(yaml, new RegExp(`driver: ${f}\\b`));
  } finally {
    await Promise.all(served.map((s) => s.close()));
  }
});

test.run();
