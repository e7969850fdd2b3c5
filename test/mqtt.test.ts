import * as assert from 'uvu/assert';
import { VirtualClock } from '../agent/clock';
import { type Broker, startBroker } from './fixtures/mqtt/broker';
import { TestController } from './fixtures/mqtt/controller';
import { body, until, waitFor } from './fixtures/uplink/util';
import { type Agent, mqttAgent } from './fixtures/mqtt/agent';
import { needs } from './harness/peers';

/** a real Mosquitto broker: skipped where it is not on PATH (harness/peers) */
const test = needs('mosquitto');

/** The uplink over MQTT 5 against a real Mosquitto broker on 127.0.0.1 (README, "Uplink over MQTT"). */

let broker: Broker;
let ctl: TestController;
const agents: Agent[] = [];

test.before(async () => {
  broker = await startBroker();
  ctl = await TestController.connect(broker.url, 's1');
});
test.after(async () => {
  for (const a of agents.splice(0)) await a.close();
  await ctl?.close();
  await broker?.stop();
});

test('An agent says hello, publishes retained online state and telemetry with the journal\'s seq', async () => {
  const a = mqttAgent(broker.url, 'a1');
  agents.push(a);
  a.up.start();
  await waitFor(a.up, 'connected');
  for (let i = 0; i < 3; i++) a.up.telemetry(body(i));
  await ctl.until(() => ctl.of('a1', 'telemetry').length === 3);
  const hello = ctl.of('a1', 'hello')[0].frame as Record<string, unknown>;
  assert.equal(hello.type, 'hello');
  assert.equal(hello.agent, 'a1');
  assert.equal(hello.v, 1);
  const state = ctl.of('a1', 'state');
  assert.equal((state[state.length - 1].frame as { online: boolean }).online, true);
  assert.equal(ctl.of('a1', 'telemetry').map((s) => (s.frame as { seq: number }).seq), [1, 2, 3]);
  // the broker has them, but only the controller's `received` empties the journal
  assert.equal(a.journal.stats().frames, 3);
  await ctl.received('a1', 3);
  await until(() => a.journal.stats().frames === 0);
});

test('A late subscriber finds the retained online state; a stopped agent leaves it offline', async () => {
  const a = mqttAgent(broker.url, 'a9');
  a.up.start();
  await waitFor(a.up, 'connected');
  const late = await TestController.connect(broker.url, 's1');
  try {
    await late.until(() => late.of('a9', 'state').some((s) => s.retain && (s.frame as { online: boolean }).online));
    await a.close();
    await late.until(() => late.of('a9', 'state').some((s) => (s.frame as { online: boolean }).online === false));
  } finally {
    await late.close();
  }
});

test('One publish on the site-wide topic curtails every agent and each acks on its own topic', async () => {
  const fleet = ['b1', 'b2', 'b3'].map((id) => mqttAgent(broker.url, id));
  agents.push(...fleet);
  for (const a of fleet) a.up.start();
  await Promise.all(fleet.map((a) => (a.up.connected ? Promise.resolve() : waitFor(a.up, 'connected'))));
  await ctl.command(undefined, { type: 'command', id: 'site-curtail-1', action: 'curtail' });
  await ctl.until(() => ['b1', 'b2', 'b3'].every((id) => ctl.of(id, 'ack').length === 1));
  for (const a of fleet) assert.equal(a.acted.map((c) => c.action), ['curtail']);
  for (const id of ['b1', 'b2', 'b3']) assert.equal(ctl.of(id, 'ack')[0].frame, { type: 'ack', id: 'site-curtail-1', ok: true });
  // an agent-only command reaches that agent alone
  await ctl.command('b2', { type: 'command', id: 'rel-b2', action: 'release' });
  await ctl.until(() => ctl.of('b2', 'ack').length === 2);
  assert.equal(fleet.map((a) => a.acted.length), [1, 2, 1]);
});

test('Bad payloads on the command topics are refused with ack ok:false and never acted on', async () => {
  const a = mqttAgent(broker.url, 'c1');
  agents.push(a);
  a.up.start();
  await waitFor(a.up, 'connected');
  const bad: [string | undefined, string | Buffer][] = [
    ['c1', 'not json {'],
    ['c1', Buffer.from([0xff, 0xfe, 0x00, 0x81])],
    ['c1', JSON.stringify({ type: 'command', id: 'x1', action: 'explode' })],
    ['c1', JSON.stringify({ type: 'command', id: 'x2', action: 'set_power', kw: -5, ttl_s: 10 })],
    ['c1', JSON.stringify({ type: 'command', id: 'x3', action: 'set_power', kw: 5, ttl_s: 1e9 })],
    ['c1', JSON.stringify([1, 2, 3])],
    [undefined, JSON.stringify({ type: 'received', seq: 99 })],
    [undefined, JSON.stringify({ type: 'command', id: 'x4' })],
  ];
  for (const [agent, payload] of bad) {
    await ctl.publish(agent ? `hashflex/s1/${agent}/cmd` : 'hashflex/s1/cmd', payload);
  }
  await ctl.until(() => ctl.of('c1', 'ack').length === bad.length);
  const acks = ctl.of('c1', 'ack').map((s) => s.frame as { id: string; ok: boolean });
  assert.ok(acks.every((f) => f.ok === false));
  assert.equal(acks.map((f) => f.id).filter(Boolean), ['x1', 'x2', 'x3', 'x4']);
  assert.equal(a.acted.length, 0);
  assert.equal(a.up.stats.rejected, bad.length);
  // a retained command is ignored (it would replay at every reconnect), then cleared
  await ctl.publish('hashflex/s1/c1/cmd', JSON.stringify({ type: 'command', id: 'stale', action: 'release' }), true);
  await ctl.publish('hashflex/s1/c1/cmd', '', true);
  // the link survived all of it and still obeys
  await ctl.command('c1', { type: 'command', id: 'good', action: 'curtail' });
  await ctl.until(() => ctl.of('c1', 'ack').some((s) => (s.frame as { id: string }).id === 'good'));
  assert.equal(a.acted.map((c) => c.id), ['good']);
  assert.ok(a.up.connected);
});

test('A command flood on the broker is dropped beyond the rate, cut off, and the agent comes back', async () => {
  // virtual time: the token bucket refills only when the test says so
  const clock = new VirtualClock();
  const a = mqttAgent(broker.url, 'f1', 's1', { commandRate: 1, cutAfter: 10 }, clock);
  agents.push(a);
  a.up.start();
  await waitFor(a.up, 'connected');
  const cut = waitFor(a.up, 'disconnected');
  await Promise.all(Array.from({ length: 40 }, (_, i) => ctl.command('f1', { type: 'command', id: `flood-${i}`, action: 'release' })));
  const [why] = await cut;
  assert.equal(why, { code: 1006, reason: 'flood' });
  assert.ok(a.up.stats.floodCuts >= 1);
  assert.ok(a.up.stats.floodDropped >= 10);
  assert.is(a.acted.length, 5); // the 5 s burst at 1/s, not one more
  const back = waitFor(a.up, 'connected');
  clock.advance(400); // the protocol's backoff
  await back;
  await ctl.command('f1', { type: 'command', id: 'after-flood', action: 'curtail' });
  await ctl.until(() => ctl.of('f1', 'ack').some((s) => (s.frame as { id: string }).id === 'after-flood'));
  assert.is(a.acted[a.acted.length - 1].id, 'after-flood');
});

test.run();
