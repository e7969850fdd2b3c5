import mqtt from 'mqtt';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  eventSchema,
  notificationSchema,
  notifierTopicsResponseSchema,
  notifiersResponseSchema,
  subscriptionSchema,
  venSchema,
  type EventRequest,
} from '../agent/grid/openadr/spec';
import { SimVtn } from '../sim/vtn';
import { needs } from './harness/peers';
import { Api, startCallback, type Callback } from './fixtures/vtn/client';
import { startBroker } from './fixtures/mqtt/broker';

// loopback range of the VTN suites: 127.27.0.0/16 (this file: VTN 127.27.0.3, callbacks 127.27.0.4)
const HOST = '127.27.0.3';
const CALLBACK_HOST = '127.27.0.4';
const CLIENTS = [
  { id: 'ven-a', secret: 'secret-a' },
  { id: 'ven-b', secret: 'secret-b' },
];
const mqttTest = needs('mosquitto');

const event = (programID: string, level = 1): EventRequest => ({
  programID,
  intervalPeriod: { start: '2026-06-01T12:00:00Z', duration: 'PT1H' },
  intervals: [{ id: 0, payloads: [{ type: 'SIMPLE', values: [level] }] }],
});

async function rig(opts: Partial<ConstructorParameters<typeof SimVtn>[0]> = {}): Promise<{ vtn: SimVtn; cb: Callback; a: Api; done(): Promise<void> }> {
  const vtn = new SimVtn({ host: HOST, clients: CLIENTS, ...opts });
  await vtn.listen();
  const cb = await startCallback(CALLBACK_HOST);
  const a = await Api.login(vtn.url, 'ven-a', 'secret-a');
  return { vtn, cb, a, done: async () => { await cb.close(); await vtn.close(); } };
}

/** `p`, or a failure after a generous real timeout (so a lost message fails the test, not the run) */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms); });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** the notifications a callback received, each checked against the specification */
function notified(cb: Callback): { objectType: string; operation: string; id: string; auth?: string }[] {
  return cb.received.map((r) => {
    const n = notificationSchema.parse(r.body);
    if (n.objectType === 'EVENT') eventSchema.parse(n.object);
    return { objectType: n.objectType, operation: n.operation, id: String(n.object.id), auth: r.authorization };
  });
}

test('A webhook subscription hears of events created, updated and deleted, with its bearer token', async () => {
  const { vtn, cb, a, done } = await rig();
  try {
    const p = await vtn.createProgram({ programName: 'ers-30' });
    const sub = await a.ok('POST', '/subscriptions', subscriptionSchema, {
      clientName: 'north-field',
      programID: p.id,
      objectOperations: [{ objects: ['EVENT'], operations: ['CREATE', 'UPDATE', 'DELETE'], callbackUrl: cb.url, bearerToken: 'cb-token-1' }],
    });
    assert.is(sub.clientID, 'ven-a');
    const e = await vtn.createEvent(event(p.id));
    await vtn.updateEvent(e.id, { intervals: [{ id: 0, payloads: [{ type: 'SIMPLE', values: [2] }] }] });
    await vtn.deleteEvent(e.id);
    await vtn.settled();
    assert.equal(notified(cb), [
      { objectType: 'EVENT', operation: 'CREATE', id: e.id, auth: 'Bearer cb-token-1' },
      { objectType: 'EVENT', operation: 'UPDATE', id: e.id, auth: 'Bearer cb-token-1' },
      { objectType: 'EVENT', operation: 'DELETE', id: e.id, auth: 'Bearer cb-token-1' },
    ]);
    assert.ok(vtn.deliveries.every((d) => d.status === 200));
  } finally {
    await done();
  }
});

test('Subscriptions in 3.0.1 verbs (POST, PUT) are heard as CREATE and UPDATE', async () => {
  const { vtn, cb, a, done } = await rig();
  try {
    const p = await vtn.createProgram({ programName: 'ers-30' });
    const sub = await a.ok('POST', '/subscriptions', subscriptionSchema, {
      clientName: 'north-field',
      objectOperations: [{ objects: ['EVENT', 'PROGRAM'], operations: ['POST', 'PUT'], callbackUrl: cb.url }],
    });
    assert.equal(sub.objectOperations[0].operations, ['CREATE', 'UPDATE']);
    const e = await vtn.createEvent(event(p.id));
    await vtn.updateProgram(p.id, { programLongName: 'Emergency Response Service' });
    await vtn.deleteEvent(e.id);
    await vtn.settled();
    assert.equal(notified(cb).map((n) => `${n.objectType} ${n.operation}`), ['EVENT CREATE', 'PROGRAM UPDATE']);
    assert.is(cb.received[0].authorization, undefined, 'no bearerToken, no Authorization header');
  } finally {
    await done();
  }
});

test('A subscription hears only of its program, and not of events targeted at others', async () => {
  const { vtn, cb, a, done } = await rig();
  try {
    const mine = await vtn.createProgram({ programName: 'ers-30' });
    const other = await vtn.createProgram({ programName: 'tou' });
    const v = await a.ok('POST', '/vens', venSchema, { venName: 'north-field' });
    await vtn.grantTargets(v.id, ['feeder-7']);
    await a.ok('POST', '/subscriptions', subscriptionSchema, {
      clientName: 'north-field',
      programID: mine.id,
      objectOperations: [{ objects: ['EVENT'], operations: ['CREATE'], callbackUrl: cb.url }],
    });
    await vtn.createEvent(event(other.id));
    const hidden = await vtn.createEvent({ ...event(mine.id), targets: ['feeder-9'] });
    const aimed = await vtn.createEvent({ ...event(mine.id), targets: ['feeder-7', 'feeder-9'] });
    await vtn.settled();
    const heard = cb.received.map((r) => notificationSchema.parse(r.body));
    assert.equal(heard.map((n) => n.object.id), [aimed.id]);
    assert.equal(heard[0].object.targets, ['feeder-7'], 'targets hidden in notifications too');
    assert.ok(!heard.some((n) => n.object.id === hidden.id));
  } finally {
    await done();
  }
});

test('A callback outside loopback must be https, and the echo challenge refuses a callback that fails it', async () => {
  const { vtn, a, done } = await rig({ challengeCallbacks: true });
  const silent = await startCallback(CALLBACK_HOST, { echo: false });
  const honest = await startCallback(CALLBACK_HOST);
  try {
    const sub = (url: string) => ({ clientName: 'north-field', objectOperations: [{ objects: ['EVENT'], operations: ['CREATE'], callbackUrl: url }] });
    assert.match((await a.refused('POST', '/subscriptions', sub('http://vtn-callbacks.example/notify'))).detail, /https/);
    assert.match((await a.refused('POST', '/subscriptions', sub(silent.url))).detail, /echo/);
    assert.is(silent.challenges.length, 1);
    await a.ok('POST', '/subscriptions', subscriptionSchema, sub(honest.url));
    assert.is(honest.challenges.length, 1);
    assert.ok(honest.challenges[0].length >= 16, 'a random echo value');
  } finally {
    await silent.close();
    await honest.close();
    await done();
  }
});

test('A callback that is down is recorded as a failed delivery and the VTN carries on', async () => {
  const { vtn, cb, a } = await rig({ webhookTimeoutMs: 2000 });
  try {
    const p = await vtn.createProgram({ programName: 'ers-30' });
    await a.ok('POST', '/subscriptions', subscriptionSchema, { clientName: 'n', objectOperations: [{ objects: ['EVENT'], operations: ['CREATE'], callbackUrl: cb.url }] });
    await cb.close();
    await vtn.createEvent(event(p.id));
    await vtn.settled();
    assert.is(vtn.deliveries.length, 1);
    assert.ok(vtn.deliveries[0].error, 'the refused connection is recorded');
    await a.ok('GET', `/events?programID=${p.id}`, eventSchema.array());
  } finally {
    await vtn.close();
  }
});

test('GET /notifiers offers WEBHOOK only when the VTN has no broker, and no MQTT topics', async () => {
  const { vtn, a, done } = await rig();
  try {
    const n = await a.ok('GET', '/notifiers', notifiersResponseSchema);
    assert.equal(n, { WEBHOOK: true });
    assert.is((await a.refused('GET', '/notifiers/mqtt/topics/events')).status, 404);
  } finally {
    await done();
  }
});

mqttTest('With a broker the VTN offers MQTT, names its topics, and publishes event notifications on them', async () => {
  const broker = await startBroker();
  const { vtn, a, done } = await rig({ mqttBrokerUrl: broker.url });
  const listener = mqtt.connect(broker.url, { reconnectPeriod: 0 });
  try {
    const n = await a.ok('GET', '/notifiers', notifiersResponseSchema);
    assert.equal(n.MQTT?.URIS, [broker.url]);
    assert.is(n.MQTT?.authentication.method, 'ANONYMOUS');
    const p = await vtn.createProgram({ programName: 'ers-30' });
    const v = await a.ok('POST', '/vens', venSchema, { venName: 'north-field' });
    const forProgram = await a.ok('GET', `/notifiers/mqtt/topics/programs/${p.id}/events`, notifierTopicsResponseSchema);
    const forVen = await a.ok('GET', `/notifiers/mqtt/topics/vens/${v.id}/events`, notifierTopicsResponseSchema);
    const one = await a.ok('GET', `/notifiers/mqtt/topics/programs/${p.id}`, notifierTopicsResponseSchema);
    assert.is(one.topics.CREATE, undefined, 'no CREATE topic for an object that exists already');
    const got: { topic: string; op: string }[] = [];
    if (!listener.connected) await new Promise<void>((resolve) => listener.once('connect', () => resolve()));
    await listener.subscribeAsync([forProgram.topics.ALL!, forVen.topics.CREATE!], { qos: 1 });
    const heard = new Promise<void>((resolve) => {
      listener.on('message', (topic, payload) => {
        got.push({ topic, op: notificationSchema.parse(JSON.parse(payload.toString())).operation });
        if (got.length === 3) resolve();
      });
    });
    const e = await vtn.createEvent(event(p.id));
    await vtn.deleteEvent(e.id);
    await within(heard, 10_000, 'three MQTT notifications');
    assert.equal(got.map((g) => `${g.topic} ${g.op}`).sort(), [
      `programs/${p.id}/events/create CREATE`,
      `programs/${p.id}/events/delete DELETE`,
      `vens/${v.id}/events/create CREATE`,
    ]);
  } finally {
    await listener.endAsync();
    await done();
    await broker.stop();
  }
});

test.run();
