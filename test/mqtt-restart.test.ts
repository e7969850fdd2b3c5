import * as assert from 'uvu/assert';
import { type Broker, startBroker } from './fixtures/mqtt/broker';
import { TestController } from './fixtures/mqtt/controller';
import { until, waitFor } from './fixtures/uplink/util';
import { mqttAgent } from './fixtures/mqtt/agent';
import { needs } from './harness/peers';

/** a real Mosquitto broker: skipped where it is not on PATH (harness/peers) */
const test = needs('mosquitto');

/**
 * Broker restart mid-stream: the agent keeps journaling events while Mosquitto is down; after it
 * comes back on the same port the agent says hello again and resends from its journal. The test
 * controller holds a persistent session (clean start off, session expiry), as the README asks of
 * a controller, and processes seq the way the protocol says: a seq at or below the last one
 * taken is a resend and skipped; anything above last+1 would be a gap.
 */

let broker: Broker | undefined;

test.after(async () => {
  await broker?.stop();
});

test('A broker restart mid-stream loses no event: every seq reaches the controller, in order', async () => {
  broker = await startBroker({ persistence: true });
  const ctl = await TestController.connect(broker.url, 'r1', { persistent: true, id: `ctl-restart-${process.pid}` });
  const a = mqttAgent(broker.url, 'e1', 'r1');
  const taken: number[] = [];
  const gaps: string[] = [];
  let last = 0;
  ctl.on('frame', (s: { agent: string; kind: string; frame: { seq: number } }) => {
    if (s.agent !== 'e1' || s.kind !== 'event') return;
    const seq = s.frame.seq;
    if (seq <= last) return; // a resend of what the controller already has
    if (seq !== last + 1) gaps.push(`${last} -> ${seq}`);
    taken.push(seq);
    last = seq;
    if (seq % 10 === 0) void ctl.received('e1', seq).catch(() => undefined);
  });
  try {
    a.up.start();
    await waitFor(a.up, 'connected');
    let n = 0;
    const produce = (k: number): void => { for (let i = 0; i < k; i++) a.up.event({ kind: 'fault', source: 'test', n: ++n }); };
    produce(40);
    await ctl.until(() => last >= 20);
    const down = waitFor(a.up, 'disconnected');
    await broker.kill();
    await down;
    produce(40); // journaled while the broker is gone
    assert.not.ok(a.up.connected);
    await broker.start();
    if (!a.up.connected) await waitFor(a.up, 'connected', () => true, 20_000);
    produce(40);
    await ctl.until(() => last >= 120, 20_000);
    assert.equal(gaps, []);
    assert.equal(taken, Array.from({ length: 120 }, (_, i) => i + 1));
    assert.equal(a.up.stats.connects, 2);
    await ctl.received('e1', 120);
    await until(() => a.journal.stats().frames === 0);
  } finally {
    await a.close();
    await ctl.close();
  }
});

test.run();
