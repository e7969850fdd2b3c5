import fs from 'node:fs';
import path from 'node:path';
import type Database from 'better-sqlite3';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VirtualClock } from '../agent/clock';
import { Uplink } from '../agent/uplink/client';
import { Journal, type FrameBuilder } from '../agent/uplink/journal';
import type { Link, LinkHandler, Transport } from '../agent/uplink/transport';
import { body, rmDir, tmpDir, until } from './fixtures/uplink/util';

/**
 * A journal that cannot write (a full SD card: SQLITE_FULL) never costs a frame on a live link:
 * the frame keeps its seq, goes out from memory marked `"journaled": false`, stays there until
 * `received`, and the uplink reports a `fault` (source `journal`) and later its `recover`.
 * The disk is filled by capping SQLite's page count at what the file has now.
 */
const frame = (kind: string, pad = 0): FrameBuilder => (seq, journaled) =>
  JSON.stringify({ type: kind, seq, pad: 'x'.repeat(pad), ...(journaled ? {} : { journaled: false }) });

const dbOf = (j: Journal) => (j as unknown as { db: Database.Database }).db;
function fillDisk(j: Journal): void {
  const db = dbOf(j);
  db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
}
function freeDisk(j: Journal): void {
  dbOf(j).pragma('max_page_count = 1073741823');
}
/** append until one write fails (the last pages of the file fill first) */
function appendUntilFull(j: Journal, pad = 2000): number[] {
  const seqs: number[] = [];
  for (let i = 0; i < 1000; i++) {
    const r = j.append('telemetry', frame('telemetry', pad));
    seqs.push(r.seq);
    if (r.journaled === false) return seqs;
  }
  throw new Error('the disk never filled');
}

test('A write that fails keeps the frame: it gets its seq, is marked, and is served in order until received', () => {
  const dir = tmpDir('jfull');
  try {
    const j = Journal.open({ dir, sync: 'normal' });
    const faults: string[] = [];
    let recovers = 0;
    j.on('fault', (e: Error) => faults.push((e as { code?: string }).code ?? e.message));
    j.on('recover', () => recovers++);
    j.append('event', frame('event'));
    fillDisk(j);
    const seqs = appendUntilFull(j);
    const ev = j.append('event', frame('event', 2000));
    assert.equal([...seqs, ev.seq], Array.from({ length: seqs.length + 1 }, (_, i) => i + 2), 'seq goes on, one by one');
    assert.is(ev.journaled, false);
    assert.equal(JSON.parse(ev.text), { type: 'event', seq: ev.seq, pad: 'x'.repeat(2000), journaled: false });
    assert.equal(faults, ['SQLITE_FULL'], "one 'fault' for the run of failures");
    assert.is(j.durableSeq, ev.seq, 'a frame held in memory may be sent at once');
    const all = j.after(0, 1000);
    assert.equal(all.map((r) => r.seq), [1, ...seqs, ev.seq], 'stored and held frames together, in seq order');
    assert.equal(all.filter((r) => r.journaled === false).map((r) => r.seq), [seqs[seqs.length - 1], ev.seq]);
    let st = j.stats();
    assert.equal([st.failing, st.memoryFrames, st.unjournaled, st.writeErrors], [true, 2, 2, 2]);

    // the controller confirms the first held one; the other stays until it is covered too
    assert.is(j.ack(seqs[seqs.length - 1]), seqs.length + 1);
    assert.equal(j.after(0, 1000).map((r) => r.seq), [ev.seq]);

    // room again: the next write works, 'recover', and what was held is stored for good
    freeDisk(j);
    const next = j.append('telemetry', frame('telemetry'));
    assert.is(next.seq, ev.seq + 1);
    assert.is(next.journaled, undefined);
    assert.is(recovers, 1);
    st = j.stats();
    assert.equal([st.failing, st.memoryFrames, st.memoryBytes, st.frames], [false, 0, 0, 2]);
    j.close();
    const again = Journal.open({ dir, sync: 'normal' });
    assert.equal(again.after(0, 10).map((r) => [r.seq, JSON.parse(r.text).journaled]), [[ev.seq, undefined], [next.seq, undefined]],
      'the held event survives a restart once stored (in its journaled form)');
    again.close();
  } finally {
    rmDir(dir);
  }
});

test('A seq sent from memory is never given out again, even after a restart before any write worked', () => {
  const dir = tmpDir('jfull');
  try {
    let j = Journal.open({ dir, sync: 'normal' });
    j.append('telemetry', frame('telemetry'));
    fillDisk(j);
    const seqs = appendUntilFull(j);
    for (let i = 0; i < 5; i++) seqs.push(j.append('event', frame('event')).seq);
    const highest = Math.max(...seqs);
    j.close(); // the agent restarts with the card still full: SQLite's own counter is behind
    j = Journal.open({ dir, sync: 'normal' });
    assert.ok(j.lastSeq >= highest, `lastSeq ${j.lastSeq} is at least ${highest}`);
    const after = j.append('event', frame('event')).seq;
    assert.ok(after > highest, `seq ${after} comes after every seq sent (${highest})`);
    j.close();
    // a torn seq.unjournaled falls back on the reservation, which is above it too
    fs.writeFileSync(path.join(dir, 'seq.unjournaled'), '12#4');
    j = Journal.open({ dir, sync: 'normal' });
    assert.ok(j.append('event', frame('event')).seq > after);
    j.close();
  } finally {
    rmDir(dir);
  }
});

test('A normal restart still continues seq without a gap', () => {
  const dir = tmpDir('jfull');
  try {
    let j = Journal.open({ dir });
    for (let i = 0; i < 3; i++) j.append('telemetry', frame('telemetry'));
    j.close();
    assert.is(fs.readFileSync(path.join(dir, 'seq.unjournaled'), 'utf8').trim(), '0', 'made at open, while there is room');
    j = Journal.open({ dir });
    assert.is(j.append('event', frame('event')).seq, 4);
    j.close();
  } finally {
    rmDir(dir);
  }
});

test('In async mode a held frame waits for the fsync of the frames before it: the order on the link is kept', async () => {
  const dir = tmpDir('jfull');
  try {
    const j = Journal.open({ dir, sync: 'async' });
    fillDisk(j);
    // fill to the edge with stored frames, then one held: it must not overtake the stored ones
    const seqs = appendUntilFull(j, 200);
    const held = seqs[seqs.length - 1];
    // appends are synchronous: the fsync of the first stored frames cannot have completed yet
    assert.ok(j.durableSeq < held - 1);
    assert.equal(j.after(0, 1000).filter((r) => r.seq === held), [], 'not before the frames ahead of it are on disk');
    await until(() => j.durableSeq >= held);
    assert.equal(j.after(0, 1000).map((r) => r.seq), seqs);
    j.close();
  } finally {
    rmDir(dir);
  }
});

test('Memory is bounded: the oldest held telemetry goes first, events stay, and the loss is counted', () => {
  const dir = tmpDir('jfull');
  try {
    const j = Journal.open({ dir, sync: 'normal', memoryBytes: 10_000 });
    fillDisk(j);
    appendUntilFull(j, 1000);
    const events = [1, 2, 3].map(() => j.append('event', frame('event', 1000)).seq);
    const telemetry = Array.from({ length: 10 }, () => j.append('telemetry', frame('telemetry', 1000)).seq);
    const st = j.stats();
    assert.ok(st.memoryBytes <= 10_000, `${st.memoryBytes} bytes held`);
    const held = j.after(0, 1000).filter((r) => r.journaled === false).map((r) => r.seq);
    for (const e of events) assert.ok(held.includes(e), `event ${e} kept`);
    assert.ok(held.includes(telemetry[telemetry.length - 1]), 'the newest telemetry kept');
    assert.is(st.memoryDropped, st.unjournaled - st.memoryFrames);
    assert.ok(st.memoryDropped > 0);
    j.close();
  } finally {
    rmDir(dir);
  }
});

/** a transport whose link is open at once and records every frame; `drop()` cuts it */
function fakeController() {
  const sent: string[] = [];
  let handler!: LinkHandler;
  let up = false;
  const transport: Transport = (h) => {
    handler = h;
    up = true;
    const link: Link = {
      send: (_k, text, cb) => { if (up) sent.push(text); cb?.(); }, // at once, as a fast transport may
      cut: () => {},
      close: async () => {},
    };
    queueMicrotask(() => h.open());
    return link;
  };
  return {
    transport, sent,
    frames: () => sent.map((t) => JSON.parse(t) as { type: string; seq: number; kind?: string; source?: string; journaled?: boolean; n?: number }),
    drop: () => { up = false; handler.close(1006, 'gone'); },
    received: (seq: number) => handler.message(JSON.stringify({ type: 'received', seq }), 'agent'),
  };
}

test('On a live link a full card loses no event: each is sent, a journal fault is raised, then its recovery', async () => {
  const dir = tmpDir('jfull');
  const journal = Journal.open({ dir, sync: 'async' });
  const ctl = fakeController();
  const clock = new VirtualClock();
  const up = new Uplink({ url: 'ws://x', agentId: 'a', version: '0', bootId: 'b', journal, backoff: { minMs: 100, maxMs: 100 } }, clock, ctl.transport);
  const local: unknown[] = [];
  up.on('journal', (e) => local.push(e));
  try {
    up.start();
    await until(() => up.connected);
    up.telemetry(body());
    fillDisk(journal);
    for (let i = 0; i < 200; i++) up.telemetry({ ...body(i), pad: 'x'.repeat(2000) } as never);
    const seqs: number[] = [];
    for (let i = 0; i < 50; i++) seqs.push(up.event({ kind: i % 2 ? 'release' : 'trip', source: 'relay', latency_ms: 3, n: i }));
    assert.ok(seqs.every((s) => s > 0));
    await until(() => ctl.frames().filter((f) => f.type === 'event' && f.source === 'relay').length === 50);
    await until(() => ctl.frames().some((f) => f.kind === 'fault'));
    const got = ctl.frames().filter((f) => f.type !== 'hello');
    assert.equal(got.map((f) => f.seq), Array.from({ length: got.length }, (_, i) => i + 1), 'every seq, in order, none twice');
    const relay = got.filter((f) => f.source === 'relay');
    assert.equal(relay.map((f) => f.n), Array.from({ length: 50 }, (_, i) => i));
    // a small frame may still find room in a page; the rest went out from memory only, marked
    const unjournaled = got.filter((f) => f.journaled === false).length;
    assert.ok(unjournaled >= 150, `${unjournaled} frames marked journaled:false`);
    assert.is(unjournaled, journal.stats().unjournaled);
    const faults = got.filter((f) => f.kind === 'fault');
    assert.equal(faults.map((f) => [f.source, f.journaled]), [['journal', false]], 'one fault, from the journal');
    assert.is(up.stats.journalErrors, unjournaled);
    assert.is(journal.stats().failing, true);

    // the link drops and comes back: what the controller has not confirmed is resent from memory
    const confirmed = seqs[24];
    ctl.received(confirmed);
    await new Promise((r) => setImmediate(r));
    ctl.drop();
    ctl.sent.length = 0;
    clock.advance(200);
    await until(() => up.connected);
    await until(() => ctl.frames().some((f) => f.kind === 'fault'));
    const resent = ctl.frames().filter((f) => f.type !== 'hello').map((f) => f.seq);
    assert.is(resent[0], confirmed + 1, 'resent from the first unconfirmed seq');
    assert.equal(resent, Array.from({ length: resent.length }, (_, i) => confirmed + 1 + i));

    // the card has room again: the next frame is stored, and the uplink says the journal recovered
    freeDisk(journal);
    up.telemetry(body());
    await until(() => ctl.frames().some((f) => f.kind === 'recover'));
    const rec = ctl.frames().find((f) => f.kind === 'recover') as unknown as { source: string; unjournaled: number; journaled?: boolean };
    assert.is(rec.source, 'journal');
    assert.is(rec.journaled, undefined, 'stored, as usual');
    assert.ok(rec.unjournaled >= unjournaled);
    assert.equal(local.map((e) => (e as { kind: string }).kind), ['fault', 'recover']);
    assert.is(journal.stats().memoryFrames, 0, 'what was held is in the journal now');
  } finally {
    await up.stop();
    journal.close();
    rmDir(dir);
  }
});

test.run();
