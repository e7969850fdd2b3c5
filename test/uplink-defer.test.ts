import { EventEmitter } from 'node:events';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VirtualClock } from '../agent/clock';
import { Uplink } from '../agent/uplink/client';
import { Journal } from '../agent/uplink/journal';
import type { EventBody } from '../agent/uplink/protocol';
import type { Link, Transport } from '../agent/uplink/transport';
import { body, rmDir, tmpDir, until } from './fixtures/uplink/util';

/**
 * queueEvent(): an event from the control path (Site 'control', 'trip') is journaled and sent
 * after the synchronous work that raised it, never inside it, and still journaled before it is
 * sent, in call order.
 */
function rig(sync: 'full' | 'async' = 'full') {
  const dir = tmpDir('defer');
  const journal = Journal.open({ dir, sync });
  const sent: { seq?: number; type: string; kind?: string; ts?: string; n?: number }[] = [];
  let storedWhenSent = true;
  const transport: Transport = (h) => {
    const link: Link = {
      send: (_k, text, cb) => {
        const f = JSON.parse(text) as { seq?: number; type: string };
        if (f.seq !== undefined && journal.after(f.seq - 1, 1, journal.lastSeq)[0]?.seq !== f.seq) storedWhenSent = false;
        sent.push(f);
        if (cb) setImmediate(cb);
      },
      cut: () => {},
      close: async () => {},
    };
    queueMicrotask(() => h.open());
    return link;
  };
  const clock = new VirtualClock();
  const up = new Uplink({ url: 'ws://x', agentId: 'a', version: '0', bootId: 'b', journal }, clock, transport);
  return {
    dir, journal, clock, up, sent, storedWhenSent: () => storedWhenSent,
    async close() { await up.stop(); journal.close(); rmDir(dir); },
  };
}

test('A queued event is not journaled inside the listener that raised it, and goes out journaled right after', async () => {
  const r = rig('full');
  try {
    r.up.start();
    await until(() => r.up.connected);
    const site = new EventEmitter();
    site.on('control', (e: EventBody) => r.up.queueEvent({ ...e }));
    const before = r.journal.lastSeq;
    const t0 = r.clock.now();
    site.emit('control', { kind: 'fault', source: 'board:hb1', detail: 'unresponsive' });
    // the code that emitted it goes on (the under-frequency check, a trip) with nothing written yet
    assert.is(r.journal.lastSeq, before, 'no append inside the emit');
    r.clock.advance(250);
    await until(() => r.sent.some((f) => f.kind === 'fault'));
    const f = r.sent.find((x) => x.kind === 'fault')!;
    assert.is(f.seq, before + 1);
    assert.is(f.ts, new Date(t0).toISOString(), 'stamped when it was raised, not when written');
    assert.ok(r.storedWhenSent(), 'journaled before it was sent');
  } finally {
    await r.close();
  }
});

test('Queued events keep call order with frames reported after them, and stop() writes what is still queued', async () => {
  const r = rig('async');
  try {
    r.up.start();
    await until(() => r.up.connected);
    r.up.queueEvent({ kind: 'fault', source: 'io', detail: 'x', n: 1 });
    r.up.queueEvent({ kind: 'recover', source: 'io', n: 2 });
    const t = r.up.telemetry(body());
    assert.is(t, 3, 'the queued events took seq 1 and 2 first');
    await until(() => r.sent.filter((f) => f.type !== 'hello').length === 3);
    assert.equal(r.sent.filter((f) => f.type !== 'hello').map((f) => [f.seq, f.kind ?? f.type]), [[1, 'fault'], [2, 'recover'], [3, 'telemetry']]);
    r.up.queueEvent({ kind: 'release', source: 'command', n: 4 });
    await r.up.stop();
    assert.equal(r.journal.after(3, 10, r.journal.lastSeq).map((x) => JSON.parse(x.text).n), [4], 'journaled at stop');
  } finally {
    await r.close();
  }
});

test.run();
