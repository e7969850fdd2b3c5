import http from 'node:http';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ErrorCode } from '../agent/errors';
import { rpcCall } from '../drivers/miner/rpc';
import { identify } from '../drivers/miner/whatsminer';
import { MinerAuthError } from '../drivers/miner/whatsminer/reply';
import { SimWhatsminer, WHATSMINER_V3_FIRMWARE } from '../sim/miners/whatsminer';
import { rig } from './fixtures/whatsminer/rig';

/**
 * Firmware dated after 2024-11 speaks API v3 on 4433 (length-prefixed JSON, salted SHA-256
 * tokens); the driver picks it by the version, as pyasic does. Over loopback (127.21.2.x).
 * Also: the evidence `hashflex discover` will hand to identify(), taken from the simulator.
 */
let next = 1;
const host = () => `127.21.2.${next++}`;
const V3 = { firmware: WHATSMINER_V3_FIRMWARE };

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

test('Firmware after 2024-11 is driven over API v3: the salt is held and the password proved at start, power from get.miner.status', async () => {
  const r = await rig(host(), V3);
  try {
    await r.miner.start();
    assert.equal(r.miner.identity, { model: 'M60SVK30', firmware: WHATSMINER_V3_FIRMWARE, api: 'v3' });
    const s = r.miner.status();
    assert.is(s.fault, undefined);
    assert.is(s.state, 'hashing');
    assert.is(s.kw, 3.4);
    assert.ok(Math.abs(s.ths - r.sim.machine.ths) < 1e-9);
    const lines = r.sim.requests.map((q) => `${q.api} ${q.cmd}${q.secured ? ' (secured)' : ''}`);
    assert.ok(lines.includes('v3 set.system.led (secured)'), 'the one harmless write that proves the password');
    assert.not.ok(lines.some((l) => l.includes('get_token')), 'no v2 token on v3 firmware');
  } finally {
    await r.close();
  }
});

test('stop() on v3 is one signed set.miner.service stop; the machine then ramps down to sleep', async () => {
  const r = await rig(host(), V3);
  try {
    await r.miner.start();
    r.mark();
    await r.miner.stop();
    assert.equal(r.since(), ['v3 set.miner.service (secured)']);
    assert.is(r.sim.machine.state, 'stopping');
    r.sim.machine.tick(r.sim.machine.spec.stopMs);
    await r.advance(5_000);
    assert.is(r.miner.status().state, 'sleeping');
    assert.is(r.miner.status().setting, 0);
  } finally {
    await r.close();
  }
});

test('set() on v3: set.miner.power_percent while hashing; from sleep the service is started first', async () => {
  const r = await rig(host(), V3);
  try {
    await r.miner.start();
    r.mark();
    await r.miner.set(60);
    assert.equal(r.since(), ['v3 set.miner.power_percent (secured)']);
    assert.is(r.sim.percent, 60);
    await r.miner.stop();
    r.sim.machine.tick(r.sim.machine.spec.stopMs);
    await r.advance(5_000);
    r.mark();
    await r.miner.set(100);
    assert.equal(r.since(), ['v3 set.miner.service (secured)', 'v3 set.miner.power_percent (secured)']);
    assert.is(r.sim.machine.state, 'waking');
  } finally {
    await r.close();
  }
});

test('A wrong v3 password: a clear fault at start, stop() rejects as refused credentials after one salt re-read, the machine keeps hashing', async () => {
  const r = await rig(host(), { ...V3, password: 'notsuper' });
  try {
    await r.miner.start();
    assert.match(r.miner.status().fault ?? '', /credentials refused: .*code -4/);
    r.mark();
    const e = await rejection(r.miner.stop());
    assert.ok(e instanceof MinerAuthError, String(e));
    assert.is((e as MinerAuthError).code, ErrorCode.DeviceFault);
    assert.equal(r.since(), ['v3 set.miner.service (secured)', 'v3 get.device.info', 'v3 set.miner.service (secured)']);
    assert.is(r.sim.machine.state, 'hashing');
  } finally {
    await r.close();
  }
});

test('Clocks two hours apart: v3 tokens are stamped with the miner\'s own time (from each reply\'s `when`), so the stop is accepted', async () => {
  const r = await rig(host(), V3);
  r.sim.clockOffsetMs = 2 * 3_600_000; // the miner's clock runs two hours ahead of the board's
  try {
    await r.miner.start();
    assert.is(r.miner.status().fault, undefined);
    await r.miner.stop();
    assert.is(r.sim.machine.state, 'stopping');
  } finally {
    await r.close();
  }
});

test('v3 faults: a hang is a timeout fault and a rejected stop; garbage a frame fault', async () => {
  const r = await rig(host(), V3);
  try {
    await r.miner.start();
    r.sim.machine.faults.hang = true;
    await r.advance(5_000);
    assert.match(r.miner.status().fault ?? '', /no complete v3 reply/);
    assert.is(r.miner.status().state, 'unreachable');
    assert.ok((await rejection(r.miner.stop())).message.includes('stop'));
    r.sim.machine.faults.hang = false;
    r.sim.machine.faults.garbage = true;
    await r.advance(30_000);
    assert.match(r.miner.status().fault ?? '', /v3 frame length|not a JSON object/);
    r.sim.machine.faults.garbage = false;
    await r.advance(30_000);
    assert.is(r.miner.status().fault, undefined);
  } finally {
    await r.close();
  }
});

test('The simulator gives discover the evidence open clients identify a Whatsminer by: 4028 version / devdetails, and the web redirect', async () => {
  const h = host();
  const sim = await new SimWhatsminer({ id: 'disc', host: h, ports: { web: 0 } }).start();
  try {
    const t = { host: h, port: sim.ports.api, timeoutMs: 500 };
    const evidence = { version: await rpcCall(t, 'version'), devdetails: await rpcCall(t, 'devdetails') };
    assert.equal(identify(evidence), { make: 'MicroBT', model: 'M30S++VH40', firmware: '20230314.15.Rel', driver: 'whatsminer' });
    const web = await new Promise<{ status: number; headers: Record<string, string>; body: string }>((resolve, reject) => {
      http.get({ host: h, port: sim.ports.web, path: '/' }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers as Record<string, string>, body }));
      }).on('error', reject);
    });
    assert.is(identify({ web })?.driver, 'whatsminer');
  } finally {
    await sim.close();
  }
});

test.run();
