import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mqttUnusable } from '../agent/grid/openadr/mqtt-notify';
import { NOTIFY_PATH } from '../agent/grid/openadr/notify';
import { startBroker } from './fixtures/mqtt/broker';
import { iso, rig, subnet, T0 } from './fixtures/openadr/rig';
import { needs } from './harness/peers';

const mqttTest = needs('mosquitto');

/**
 * Webhook notifications: the VEN subscribes with a callback on its own listener (an address of
 * 127.28.N.x), the VTN's echo challenge is answered, a notification brings the next poll forward
 * (no clock moved), and one without the subscription's bearer token is refused and changes
 * nothing. Polling stays on beneath it. And MQTT, where the VTN's /notifiers offers a broker
 * (a real Mosquitto; skipped where it is not installed).
 */

async function webhookRig(challenge = true) {
  const net = subnet();
  return rig({ host: `${net}.1`, vtn: { challengeCallbacks: challenge }, settings: { notify: { listen: `${net}.2:0` } } });
}

test('The VEN subscribes to its programs\' events with a callback that answers the echo challenge', async () => {
  const r = await webhookRig();
  try {
    const p = await r.program();
    await r.ven.start();
    assert.is(r.ven.status().notifications, 'webhook');
    assert.is(r.vtn.subscriptions.length, 1);
    const s = r.vtn.subscriptions[0];
    assert.is(s.programID, p);
    assert.is(s.clientName, 'north-field');
    assert.ok(s.objectOperations[0].callbackUrl.endsWith(NOTIFY_PATH));
    assert.ok(s.objectOperations[0].objects.includes('EVENT'));
  } finally {
    await r.close();
  }
});

test('A notification of a new event is obeyed at once, without waiting for the next poll', async () => {
  const r = await webhookRig();
  try {
    const p = await r.program();
    await r.ven.start();
    const polls = r.vtn.requests.filter((q) => q.path === '/events').length;
    await r.event(p, 'ALERT_GRID_EMERGENCY', ['shed now'], { intervalPeriod: { start: iso(T0), duration: 'PT1H' } });
    await r.notified();
    assert.is(r.vtn.deliveries.at(-1)?.status, 200);
    assert.is(r.last?.curtail, true, 'curtailed with the virtual clock unmoved');
    assert.is(r.vtn.requests.filter((q) => q.path === '/events').length, polls + 1, 'one poll, brought forward');
  } finally {
    await r.close();
  }
});

test('A deletion notified ends the event at once', async () => {
  const r = await webhookRig(false);
  try {
    const p = await r.program();
    const id = await r.event(p, 'SIMPLE', [3]);
    await r.ven.start();
    assert.is(r.last?.curtail, true);
    await r.vtn.deleteEvent(id);
    await r.notified();
    assert.is(r.last?.curtail, false);
  } finally {
    await r.close();
  }
});

test('A notification without the subscription\'s bearer token is refused and starts nothing', async () => {
  const r = await webhookRig(false);
  try {
    await r.program();
    await r.ven.start();
    const url = r.vtn.subscriptions[0].objectOperations[0].callbackUrl;
    const polls = r.vtn.requests.length;
    const body = JSON.stringify({ objectType: 'EVENT', operation: 'CREATE', object: { id: 'forged' } });
    const none = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const wrong = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer not-the-token' }, body });
    assert.is(none.status, 401);
    assert.is(wrong.status, 401);
    await r.ven.settled();
    assert.is(r.vtn.requests.length, polls, 'no poll started');
    const junk = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${r.vtn.subscriptions[0].objectOperations[0].bearerToken}` }, body: '{"not":"a notification"' });
    assert.is(junk.status, 400, 'a body that is not a notification is refused even with the token');
    assert.ok(r.log.has(/notification refused/));
  } finally {
    await r.close();
  }
});

test('A restarted VEN replaces the subscription of its earlier run instead of adding one', async () => {
  const r = await webhookRig(false);
  try {
    await r.program();
    await r.ven.start();
    const first = r.vtn.subscriptions[0].id;
    await r.ven.stop();
    r.ven = r.newVen();
    await r.ven.start();
    assert.is(r.vtn.subscriptions.length, 1);
    assert.is.not(r.vtn.subscriptions[0].id, first);
  } finally {
    await r.close();
  }
});

test('Where the webhook cannot be subscribed, polling alone carries on', async () => {
  const net = subnet();
  // a public callback base the VTN refuses (not https, not loopback)
  const r = await rig({ host: `${net}.1`, settings: { notify: { listen: `${net}.2:0`, url: 'http://203.0.113.9:8443' } } });
  try {
    const p = await r.program();
    await r.ven.start();
    assert.is(r.ven.status().notifications, 'none');
    assert.ok(r.log.has(/subscription failed; polling only/));
    await r.event(p, 'SIMPLE', [3]);
    await r.run(30_000);
    assert.is(r.last?.curtail, true, 'found by the poll');
  } finally {
    await r.close();
  }
});

mqttTest('Without a webhook listener the VEN takes the VTN\'s MQTT notifier, and a message brings the poll forward', async () => {
  const broker = await startBroker();
  const r = await rig({ vtn: { mqttBrokerUrl: broker.url } });
  try {
    const p = await r.program();
    await r.ven.start();
    assert.is(r.ven.status().notifications, 'mqtt');
    await r.event(p, 'SIMPLE', [3]);
    const deadline = Date.now() + 10_000;
    // the broker delivers on its own time: wait on real I/O, the virtual clock unmoved
    while (!r.last?.curtail && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 10));
      await r.ven.settled();
    }
    assert.is(r.last?.curtail, true, 'obeyed from the MQTT notification, no poll timer fired');
  } finally {
    await r.close();
    await broker.stop();
  }
});

test('A broker binding without TLS off this board, or asking for client certificates, is not used', () => {
  const anon = { method: 'ANONYMOUS' as const };
  assert.is(mqttUnusable({ URIS: ['mqtts://broker.vtn.example'], serialization: 'JSON', authentication: anon }), undefined);
  assert.is(mqttUnusable({ URIS: ['mqtt://127.0.0.1:1883'], serialization: 'JSON', authentication: anon }), undefined, 'a broker on this board');
  assert.match(mqttUnusable({ URIS: ['mqtt://broker.vtn.example'], serialization: 'JSON', authentication: anon }) ?? '', /TLS/);
  assert.match(mqttUnusable({ URIS: ['mqtts://b'], serialization: 'JSON', authentication: { method: 'CERTIFICATE', caCert: 'x', clientCert: 'y', clientKey: 'z' } }) ?? '', /certificate/);
  assert.match(mqttUnusable({ URIS: ['mqtts://b'], serialization: 'CBOR', authentication: anon }) ?? '', /JSON/);
});

test.run();
