import { EventEmitter } from 'node:events';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VirtualClock } from '../agent/clock';
import { ErrorCode, isHashflexError } from '../agent/errors';
import { newCounters } from '../agent/hardware';
import * as c from '../drivers/hashboard/codec';
import { ChainLink } from '../drivers/hashboard/link';
import type { ByteTransport } from '../drivers/transport';

/** an in-memory transport that records writes; the test plays the chips */
class MemTransport extends EventEmitter implements ByteTransport {
  readonly description = 'mem';
  isOpen = true;
  writes: Buffer[] = [];
  async write(b: Uint8Array): Promise<void> { this.writes.push(Buffer.from(b)); }
  async close(): Promise<void> { this.isOpen = false; }
  feed(...frames: Buffer[]): void { this.emit('data', Buffer.concat(frames)); }
  drop(): void { this.isOpen = false; this.emit('close', Object.assign(new Error('gone'), { disconnected: true })); }
}

function setup() {
  const clock = new VirtualClock();
  const t = new MemTransport();
  const counters = newCounters();
  const link = new ChainLink(t, clock, counters);
  return { clock, t, counters, link };
}
const flush = () => new Promise((r) => setImmediate(r));

test('a broadcast read collects one reply per chip and resolves as soon as all have answered', async () => {
  const { t, link, counters } = setup();
  const p = link.read(c.REG_TOTAL_COUNT, { expect: 3, timeoutMs: 100 });
  await flush();
  assert.equal(t.writes[0], c.readReg(c.REG_TOTAL_COUNT));
  t.feed(c.regResponse(10, 0, 0x8c), c.regResponse(11, 0x55, 0x8c), c.regResponse(12, 0xaa, 0x8c));
  const r = await p;
  assert.ok(r.complete);
  assert.equal(r.replies.map((x) => x.addr), [0, 0x55, 0xaa]);
  assert.is(counters.frames, 3);
  assert.is(counters.timeouts, 0);
});

test('nonces arriving in the middle of a read are routed as nonces, not as replies', async () => {
  const { t, link } = setup();
  const nonces: number[] = [];
  link.on('nonce', (n) => nonces.push(n.jobId));
  const p = link.read(c.REG_PLL0, { expect: 1, timeoutMs: 100 });
  await flush();
  t.feed(c.nonceResponse(1, 8), c.regResponse(5, 0, c.REG_PLL0), c.nonceResponse(2, 16));
  assert.is((await p).replies[0].value, 5);
  assert.equal(nonces, [8, 16]);
});

test('a read nobody answers times out on the injected clock with a timeout error', async () => {
  const { clock, link, counters } = setup();
  const p = link.read(c.REG_CHIP_ID, { expect: 2, timeoutMs: 100 });
  await flush();
  clock.advance(99);
  let settled = false;
  p.catch(() => undefined).finally(() => { settled = true; });
  await flush();
  assert.not.ok(settled, 'not before the timeout');
  clock.advance(10);
  try {
    await p;
    assert.unreachable();
  } catch (e) {
    assert.ok(isHashflexError(e, ErrorCode.TransportTimeout));
    assert.ok((e as { timeout: boolean }).timeout);
  }
  assert.is(counters.timeouts, 1);
});

test('a partial answer resolves at the timeout as incomplete and counts a timeout', async () => {
  const { clock, t, link, counters } = setup();
  const p = link.read(c.REG_CHIP_ID, { expect: 3, timeoutMs: 50 });
  await flush();
  t.feed(c.regResponse(0x13660000, 0, 0));
  clock.advance(60);
  const r = await p;
  assert.not.ok(r.complete);
  assert.is(r.replies.length, 1);
  assert.is(counters.timeouts, 1);
});

test('reads are serialised, and a late reply to an earlier read is not taken for a later one', async () => {
  const { clock, t, link } = setup();
  const a = link.read(c.REG_PLL0, { expect: 1, timeoutMs: 50 });
  const b = link.read(c.REG_TOTAL_COUNT, { expect: 1, timeoutMs: 50 });
  await flush();
  assert.is(t.writes.length, 1, 'second read waits for the first');
  clock.advance(60);
  await a.catch(() => undefined);
  await flush();
  assert.is(t.writes.length, 2);
  t.feed(c.regResponse(1, 0, c.REG_PLL0), c.regResponse(2, 0, c.REG_TOTAL_COUNT));
  assert.is((await b).replies[0].value, 2);
  assert.is(link.unexpected, 1);
});

test('garbage and a bad CRC on the line are counted and the next reply still matches', async () => {
  const { t, link, counters } = setup();
  const p = link.read(c.REG_PLL0, { expect: 1, timeoutMs: 50 });
  await flush();
  const bad = c.regResponse(9, 0, c.REG_PLL0);
  bad[10] ^= 2;
  t.feed(Buffer.from([1, 2, 3]), bad, c.regResponse(4, 0, c.REG_PLL0));
  assert.is((await p).replies[0].value, 4);
  assert.equal([counters.crcErrors, counters.resyncs, counters.frames], [1, 1, 1]);
});

test('when the transport goes away a pending read fails as disconnected and writes are refused', async () => {
  const { t, link } = setup();
  const closed = new Promise((r) => link.once('close', r));
  const p = link.read(c.REG_PLL0, { expect: 1, timeoutMs: 50 });
  await flush();
  t.drop();
  await closed;
  try {
    await p;
    assert.unreachable();
  } catch (e) {
    assert.ok((e as { disconnected: boolean }).disconnected);
  }
  await link.send(c.chainInactive()).then(() => assert.unreachable(), (e) => assert.ok(e.disconnected));
});

test.run();
