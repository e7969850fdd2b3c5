import * as assert from 'uvu/assert';
import { validateConfig } from '../agent/config';
import { checkUplink } from '../agent/doctor/system';
import type { DoctorContext } from '../agent/doctor/types';
import { type Broker, freePort, startBroker } from './fixtures/mqtt/broker';
import { TestController } from './fixtures/mqtt/controller';
import { mqttAgent } from './fixtures/mqtt/agent';
import { rmDir, tmpDir, waitFor } from './fixtures/uplink/util';
import { needs } from './harness/peers';

/** a real Mosquitto broker: skipped where it is not on PATH (harness/peers) */
const test = needs('mosquitto');

/**
 * `hashflex doctor`'s uplink check on an MQTT url, against a real Mosquitto with a password file:
 * it passes with the right credentials, names the key to fix otherwise, never prints
 * the password, and leaves a running agent's connection and retained state alone. (A SUBACK
 * refused by the broker's ACL is handled too, but Mosquitto 2.0 grants every subscription and
 * filters on delivery, so that path is not exercised here.)
 */

const PW = 'agent-broker-pw-31';
const CTL = 'ctl-broker-pw-77';
let broker: Broker;
let dir = '';

test.before(async () => {
  dir = tmpDir('mqtt-doctor');
  broker = await startBroker({ users: { a1: PW, ctl: CTL } });
});
test.after(async () => {
  await broker?.stop();
  rmDir(dir);
});

function ctx(agent: string, uplink: Record<string, unknown>): DoctorContext {
  const config = validateConfig({
    agent: { id: agent },
    meter: { tcp: '127.0.0.1:1502' },
    boards: [{ id: 'hb0', serial: { path: '/dev/null' } }],
    uplink: { site: 's1', ...uplink },
    storage: { dir },
  });
  return { config, opts: { uplinkTimeoutMs: 3000 }, uplinkOk: false } as unknown as DoctorContext;
}

test('With the broker password the check passes, and a running agent keeps its link and its retained online state', async () => {
  const ctl = await TestController.connect(broker.url, 's1', { username: 'ctl', password: CTL });
  const running = mqttAgent(broker.url, 'a1', 's1', { token: PW });
  try {
    running.up.start();
    await waitFor(running.up, 'connected');
    await ctl.until(() => ctl.of('a1', 'state').length === 1);
    const c = ctx('a1', { url: broker.url, token: PW });
    const r = await checkUplink(c);
    assert.is(r.status, 'pass', `${r.detail} ${r.hint}`);
    assert.match(r.detail, 'user "a1"');
    assert.match(r.detail, 'hashflex/s1/cmd');
    assert.ok(c.uplinkOk);
    // the doctor published nothing: no hello, no state; the agent was not kicked off
    await new Promise((res) => setTimeout(res, 200));
    assert.is(ctl.of('a1', 'hello').length, 1);
    assert.is(ctl.of('a1', 'state').length, 1);
    assert.ok(running.up.connected);
    assert.is(running.up.stats.disconnects, 0);
  } finally {
    await running.close();
    await ctl.close();
  }
});

test('A wrong password fails naming uplink.username and the token, without printing either secret', async () => {
  const r = await checkUplink(ctx('a1', { url: broker.url, token: 'not-the-password' }));
  assert.is(r.status, 'fail');
  assert.match(r.detail, /refused user "a1"/);
  assert.match(r.hint!, /uplink\.username/);
  assert.match(r.hint!, /uplink\.token/);
  assert.not.ok(`${r.detail}${r.hint}`.includes('not-the-password'));
  const anon = await checkUplink(ctx('a1', { url: broker.url }));
  assert.is(anon.status, 'fail');
  assert.match(anon.detail, /no user name/);
});

test('An unreachable broker fails with a hint on url and ports', async () => {
  const port = await freePort();
  const r = await checkUplink(ctx('a1', { url: `mqtt://127.0.0.1:${port}`, token: PW }));
  assert.is(r.status, 'fail');
  assert.match(r.detail, /not reachable/);
  assert.match(r.hint!, /mqtts:\/\/ 8883/);
});

test.run();
