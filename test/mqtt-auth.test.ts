import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createUplink, Journal, brokerUrl, isMqttUrl, mqttTopics } from '../agent/uplink';
import { ErrorCode, HashflexError } from '../agent/errors';
import { type Broker, startBroker, wsBridge } from './fixtures/mqtt/broker';
import { TestController } from './fixtures/mqtt/controller';
import { mqttAgent } from './fixtures/mqtt/agent';
import { body, rmDir, tmpDir, until, waitFor } from './fixtures/uplink/util';
import { needs } from './harness/peers';

/** Broker credentials, TLS with a private CA, MQTT over WebSocket, and the choice of transport by url. */

const TLS = path.join(__dirname, 'fixtures/uplink/tls');
const brokers: Broker[] = [];
/** the tests against a real Mosquitto broker: skipped where it is not on PATH (harness/peers) */
const brokerTest = needs('mosquitto');

test.after(async () => {
  for (const b of brokers.splice(0)) await b.stop();
});

test('The url scheme picks the transport and an MQTT url without a site is a config error', () => {
  for (const u of ['mqtt://h:1883', 'mqtts://h:8883', 'mqtt+ws://h:8080/mqtt', 'mqtt+wss://h/mqtt']) assert.ok(isMqttUrl(u), u);
  for (const u of ['ws://h/uplink', 'wss://h/uplink', 'http://h', 'tcp://h:1883']) assert.not.ok(isMqttUrl(u), u);
  assert.is(brokerUrl('mqtt+wss://h:443/mqtt'), 'wss://h:443/mqtt');
  assert.is(brokerUrl('mqtts://h:8883'), 'mqtts://h:8883');
  assert.equal(mqttTopics('hashflex', 'north', 'a1'), {
    hello: 'hashflex/north/a1/hello', telemetry: 'hashflex/north/a1/telemetry', event: 'hashflex/north/a1/event',
    ack: 'hashflex/north/a1/ack', state: 'hashflex/north/a1/state', cmd: 'hashflex/north/a1/cmd',
    received: 'hashflex/north/a1/received', siteCmd: 'hashflex/north/cmd',
  });
  assert.throws(() => mqttTopics('hashflex', 'si+te', 'a1'), /site/);
  assert.throws(() => mqttTopics('hashflex', 'north', 'a/#'), /agent id/);
  const dir = tmpDir('mqtt-cfg');
  const journal = Journal.open({ dir });
  try {
    const base = { agentId: 'a1', version: 't', bootId: 'b', journal };
    try {
      createUplink({ ...base, url: 'mqtt://127.0.0.1:1' });
      assert.unreachable('no site');
    } catch (e) {
      assert.ok(e instanceof HashflexError && e.code === ErrorCode.ConfigInvalid, String(e));
    }
    assert.throws(() => createUplink({ ...base, url: 'ftp://h' }), /unsupported scheme/);
    assert.ok(createUplink({ ...base, url: 'ws://127.0.0.1:1/uplink' }));
  } finally {
    journal.close();
    rmDir(dir);
  }
});

brokerTest('With the broker password the agent connects; a wrong one is reported as auth_failed and retried', async () => {
  const broker = await startBroker({ users: { a1: 'right-pw', ctl: 'ctl-pw' } });
  brokers.push(broker);
  const bad = mqttAgent(broker.url, 'a1', 's1', { token: 'wrong-pw' });
  try {
    bad.up.start();
    const [status] = await waitFor<[number]>(bad.up, 'auth_failed');
    assert.ok(status === 134 || status === 135, `CONNACK reason ${status}`);
    await until(() => bad.up.stats.authFailures >= 2); // the protocol's backoff keeps trying
    assert.not.ok(bad.up.connected);
  } finally {
    await bad.close();
  }
  const good = mqttAgent(broker.url, 'a1', 's1', { token: 'right-pw' });
  try {
    good.up.start();
    await waitFor(good.up, 'connected');
    assert.is(good.up.stats.authFailures, 0);
  } finally {
    await good.close();
  }
});

brokerTest('Over mqtts:// with the private CA file the agent connects and reports; without it nothing is sent', async () => {
  const broker = await startBroker({
    extra: [`cafile ${TLS}/ca.pem`, `certfile ${TLS}/server-cert.pem`, `keyfile ${TLS}/server-key.pem`],
  });
  brokers.push(broker);
  const url = `mqtts://127.0.0.1:${broker.port}`;
  const ctl = await TestController.connect(url, 's1', { ca: path.join(TLS, 'ca.pem') });
  const noCa = mqttAgent(url, 't0');
  const a = mqttAgent(url, 't1', 's1', { caFile: path.join(TLS, 'ca.pem') });
  try {
    noCa.up.start();
    await until(() => /certificate/i.test(noCa.up.stats.lastError ?? ''));
    a.up.start();
    await waitFor(a.up, 'connected');
    a.up.telemetry(body());
    await ctl.until(() => ctl.of('t1', 'telemetry').length === 1);
    assert.not.ok(noCa.up.connected);
    assert.is(ctl.of('t0', 'hello').length, 0);
  } finally {
    await noCa.close();
    await a.close();
    await ctl.close();
  }
});

brokerTest('MQTT over WebSocket (mqtt+ws://) carries the same frames', async () => {
  const broker = await startBroker();
  brokers.push(broker);
  const bridge = await wsBridge(broker.port);
  const ctl = await TestController.connect(bridge.url, 's1');
  const a = mqttAgent(bridge.url.replace(/^ws:/, 'mqtt+ws:'), 'w1');
  try {
    a.up.start();
    await waitFor(a.up, 'connected');
    a.up.event({ kind: 'trip', source: 'relay', latency_ms: 3.2 });
    await ctl.until(() => ctl.of('w1', 'event').length === 1);
    assert.is((ctl.of('w1', 'event')[0].frame as { seq: number }).seq, 1);
    await ctl.command(undefined, { type: 'command', id: 'ws-curtail', action: 'curtail' });
    await ctl.until(() => ctl.of('w1', 'ack').length === 1);
    assert.equal(a.acted.map((c) => c.id), ['ws-curtail']);
  } finally {
    await a.close();
    await ctl.close();
    await bridge.close();
  }
});

test.run();
