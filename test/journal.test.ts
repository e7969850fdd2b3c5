import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Journal } from '../agent/uplink/journal';
import { startSimController } from '../sim/controller';
import { rmDir, tmpDir, until } from './fixtures/uplink/util';

const frame = (kind: string, pad = 0) => (seq: number) => JSON.stringify({ type: kind, seq, pad: 'x'.repeat(pad) });

test('seq stays strictly increasing across restarts, even after every frame was deleted', () => {
  const dir = tmpDir('journal');
  try {
    let j = Journal.open({ dir });
    assert.equal(j.lastSeq, 0);
    assert.equal([1, 2, 3].map(() => j.append('telemetry', frame('telemetry')).seq), [1, 2, 3]);
    assert.equal(j.ack(3), 3);
    assert.equal(j.stats().frames, 0);
    j.close();
    j = Journal.open({ dir });
    assert.equal(j.lastSeq, 3);
    assert.equal(j.append('event', frame('event')).seq, 4);
    j.close();
  } finally {
    rmDir(dir);
  }
});

test('A corrupt journal is set aside and a new one started, with seq still increasing', () => {
  const dir = tmpDir('journal');
  try {
    let j = Journal.open({ dir });
    for (let i = 0; i < 5; i++) j.append('telemetry', frame('telemetry'));
    j.close();
    fs.writeFileSync(path.join(dir, 'journal.db'), Buffer.alloc(8192, 0x5a));
    fs.rmSync(path.join(dir, 'journal.db-wal'), { force: true });
    j = Journal.open({ dir });
    assert.ok(j.setAside && fs.existsSync(j.setAside), 'the bad file is kept for a post-mortem');
    const seq = j.append('event', frame('event')).seq;
    assert.ok(seq > 5, `seq ${seq} continues above 5`);
    j.close();
    // and a journal that vanished altogether does the same
    for (const f of fs.readdirSync(dir)) if (f.startsWith('journal.db')) fs.rmSync(path.join(dir, f));
    j = Journal.open({ dir });
    assert.ok(j.append('event', frame('event')).seq > seq);
    j.close();
  } finally {
    rmDir(dir);
  }
});

test('Frames come back in seq order after a restart, and a received deletes only what it covers', () => {
  const dir = tmpDir('journal');
  try {
    let j = Journal.open({ dir });
    for (let i = 0; i < 10; i++) j.append(i % 4 === 0 ? 'event' : 'telemetry', frame(i % 4 === 0 ? 'event' : 'telemetry'));
    j.close();
    j = Journal.open({ dir });
    assert.equal(j.after(0, 100).map((r) => r.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.equal(JSON.parse(j.after(4, 1)[0].text), { type: 'event', seq: 5, pad: '' });
    assert.equal(j.ack(6), 6);
    assert.equal(j.after(0, 100).map((r) => r.seq), [7, 8, 9, 10]);
    assert.equal(j.after(8, 1).map((r) => r.seq), [9]);
    // a confirmation beyond what was written deletes what exists and nothing more
    assert.equal(j.ack(1000), 4);
    assert.equal(j.stats().frames, 0);
    assert.equal(j.stats().bytes, 0);
    j.close();
  } finally {
    rmDir(dir);
  }
});

test('A full journal drops the oldest telemetry first, never events, and counts the drops across restarts', () => {
  const dir = tmpDir('journal');
  try {
    // each frame is ~1 kB; the bound holds about 10
    let j = Journal.open({ dir, maxBytes: 10_500 });
    j.append('event', frame('event', 1000)); // seq 1
    for (let i = 0; i < 5; i++) j.append('telemetry', frame('telemetry', 1000)); // 2..6
    j.append('event', frame('event', 1000)); // 7
    for (let i = 0; i < 10; i++) j.append('telemetry', frame('telemetry', 1000)); // 8..17
    const left = j.after(0, 100, j.lastSeq).map((r) => r.seq);
    assert.ok(j.stats().bytes <= 10_500);
    assert.ok(left.includes(1) && left.includes(7), 'both events kept');
    assert.equal(left.at(-1), 17, 'the newest telemetry is kept');
    const dropped = j.stats().dropped;
    assert.equal(dropped, 17 - left.length);
    // the dropped ones are the oldest telemetry: 2, 3, 4...
    const droppedSeqs = Array.from({ length: 17 }, (_, i) => i + 1).filter((s) => !left.includes(s));
    assert.equal(droppedSeqs, Array.from({ length: dropped }, (_, i) => [2, 3, 4, 5, 6, 8, 9, 10, 11][i]));
    j.close();
    j = Journal.open({ dir, maxBytes: 10_500 });
    assert.equal(j.stats().dropped, dropped);
    assert.equal(j.stats().frames, left.length);
    j.close();
  } finally {
    rmDir(dir);
  }
});

test('In async mode a frame becomes readable for sending only after its background fsync', async () => {
  const dir = tmpDir('journal');
  try {
    const j = Journal.open({ dir });
    assert.is(j.durableSeq, 0);
    const durable = new Promise<number>((r) => j.once('durable', r));
    j.append('telemetry', frame('telemetry'));
    j.append('event', frame('event'));
    // written, but not yet confirmed on disk: not handed out for sending
    assert.is(j.durableSeq, 0);
    assert.equal(j.after(0), []);
    assert.equal(j.after(0, 10, j.lastSeq).map((r) => r.seq), [1, 2]);
    let upTo = await durable;
    // the fsync in flight covered seq 1; the one queued behind it covers seq 2
    if (upTo < 2) upTo = await new Promise<number>((r) => j.once('durable', r));
    assert.is(upTo, 2);
    assert.equal(j.after(0).map((r) => r.seq), [1, 2]);
    assert.is(j.stats().syncErrors, 0);
    j.close();
  } finally {
    rmDir(dir);
  }
});

test('With checkpoint worker the checkpoints run on the worker thread, and the journal reopens intact', async () => {
  const dir = tmpDir('journal');
  try {
    let j = Journal.open({ dir, checkpoint: 'worker' });
    for (let i = 0; i < 600; i++) j.append('telemetry', frame('telemetry', 500));
    await until(() => j.stats().checkpoints >= 1);
    assert.is(j.ack(100), 100);
    j.close();
    j = Journal.open({ dir });
    assert.is(j.lastSeq, 600);
    assert.equal(j.after(0, 1000).map((r) => r.seq), Array.from({ length: 500 }, (_, i) => i + 101));
    j.close();
  } finally {
    rmDir(dir);
  }
});

test('In full mode every append is durable when it returns', () => {
  const dir = tmpDir('journal');
  try {
    const j = Journal.open({ dir, sync: 'full' });
    j.append('telemetry', frame('telemetry'));
    assert.is(j.durableSeq, 1);
    assert.equal(j.after(0).map((r) => r.seq), [1]);
    j.close();
  } finally {
    rmDir(dir);
  }
});

test('A journal full of events only keeps them all, over its bound', () => {
  const dir = tmpDir('journal');
  try {
    const j = Journal.open({ dir, maxBytes: 2000 });
    for (let i = 0; i < 5; i++) j.append('event', frame('event', 1000));
    assert.equal(j.stats().frames, 5);
    assert.equal(j.stats().dropped, 0);
    j.close();
  } finally {
    rmDir(dir);
  }
});

function spawnAgent(dir: string, url: string, token: string): { child: ChildProcess; seqs: number[] } {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'fixtures/uplink/agent-child.ts'), dir, url, token], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, HASHFLEX_LOG: 'silent' },
  });
  const seqs: number[] = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const lines = buf.split('\n');
    buf = lines.pop()!;
    for (const l of lines) if (l.startsWith('J ')) seqs.push(Number(l.slice(2)));
  });
  return { child, seqs };
}

const exited = (c: ChildProcess) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())));

test('An agent killed with SIGKILL mid-stream loses nothing it journaled, and seq continues after the restart', async () => {
  const dir = tmpDir('crash');
  const ctl = await startSimController({ token: 't0k', autoReceive: false });
  const kids: ChildProcess[] = [];
  try {
    const a = spawnAgent(dir, ctl.url, 't0k');
    kids.push(a.child);
    // let the controller store some, confirm only part of it, then kill while frames fly
    await until(() => (ctl.agents.get('crashy')?.stored.length ?? 0) >= 100, 20_000);
    ctl.receive('crashy', 50);
    await until(() => a.seqs.length >= 300, 20_000);
    a.child.kill('SIGKILL');
    await exited(a.child);
    const lastJournaled = a.seqs.at(-1)!;
    assert.ok(a.seqs.every((s, i) => i === 0 || s === a.seqs[i - 1] + 1), 'first run journaled a gapless run');

    ctl.autoReceive = true;
    const b = spawnAgent(dir, ctl.url, 't0k');
    kids.push(b.child);
    await until(() => b.seqs.length >= 50 && (ctl.agents.get('crashy')?.lastSeq ?? 0) >= b.seqs[49], 20_000);
    b.child.kill('SIGKILL');
    await exited(b.child);

    assert.ok(b.seqs[0] > lastJournaled, `seq continues: ${b.seqs[0]} after ${lastJournaled}`);
    const rec = ctl.agents.get('crashy')!;
    assert.equal(rec.hellos, 2);
    const n = rec.stored.length;
    assert.equal(rec.stored, Array.from({ length: n }, (_, i) => i + 1), 'every seq stored once, in order, none missing');
    assert.ok(rec.lastSeq >= lastJournaled);
  } finally {
    for (const k of kids) if (k.exitCode === null && k.signalCode === null) { k.kill('SIGKILL'); await exited(k); }
    await ctl.close();
    rmDir(dir);
  }
});

test.run();
