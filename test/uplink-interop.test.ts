import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import path from 'node:path';
import * as assert from 'uvu/assert';
import { VirtualClock } from '../agent/clock';
import { Uplink } from '../agent/uplink/client';
import { Journal } from '../agent/uplink/journal';
import type { Command } from '../agent/uplink/protocol';
import { body, rmDir, tmpDir, until, waitFor } from './fixtures/uplink/util';
import { needs, peer } from './harness/peers';

/**
 * The agent against a controller written with Python's websockets (Debian python3-websockets),
 * a different WebSocket implementation from the agent's `ws`. peer() finds a python3 that imports
 * it (/usr/bin/python3: the pyenv python3 first on PATH does not have the module); without one
 * the suite is skipped.
 */
const test = needs('python3-websockets');
const TOKEN = 'py-token-9';

interface PyCtl { child: ChildProcess; port: number; frames: Array<Record<string, unknown>>; feed: EventEmitter }

async function startPy(): Promise<PyCtl> {
  const child = spawn(peer('python3-websockets')!, [path.join(__dirname, 'fixtures/uplink/controller.py'), TOKEN], { stdio: ['pipe', 'pipe', 'inherit'] });
  const feed = new EventEmitter();
  const frames: Array<Record<string, unknown>> = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const lines = buf.split('\n');
    buf = lines.pop()!;
    for (const l of lines) {
      const m = JSON.parse(l);
      if (m.event === 'frame') frames.push(m.frame);
      feed.emit(m.event, m);
    }
  });
  try {
    const m = await new Promise<{ port: number }>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('controller.py did not listen within 20 s')), 20_000);
      feed.once('listening', (x: { port: number }) => { clearTimeout(t); resolve(x); });
      child.once('error', (e) => { clearTimeout(t); reject(e); });
      child.once('exit', (c) => { clearTimeout(t); reject(new Error(`controller.py exited ${c}`)); });
    });
    return { child, port: m.port, frames, feed };
  } catch (e) {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    throw e;
  }
}

async function stopPy(p: PyCtl): Promise<void> {
  const gone = new Promise((r) => p.child.once('exit', r));
  p.child.stdin!.end();
  await gone;
}

test('A controller on a different WebSocket stack sees hello, telemetry and a curtail ack, and a bad command is refused', async () => {
  const py = await startPy();
  const dir = tmpDir('interop');
  const journal = Journal.open({ dir });
  const up = new Uplink({ url: `ws://127.0.0.1:${py.port}/`, token: TOKEN, agentId: 'board-17', version: '0.1.0', bootId: 'b-1', journal }, new VirtualClock());
  try {
    const seen: string[] = [];
    up.on('command', (cmd: Command) => { seen.push(cmd.action); up.ack(cmd.id, true); });
    up.start();
    await waitFor(up, 'connected');
    for (let i = 0; i < 3; i++) up.telemetry(body(i));
    await until(() => py.frames.filter((f) => f.type === 'ack').length === 2 && py.frames.filter((f) => f.type === 'telemetry').length === 3);
    const types = py.frames.map((f) => f.type);
    assert.equal(types[0], 'hello');
    assert.equal(py.frames[0], { type: 'hello', v: 1, agent: 'board-17', version: '0.1.0', boot: 'b-1' });
    assert.equal(py.frames.filter((f) => f.type === 'telemetry').map((f) => f.seq), [1, 2, 3]);
    const acks = py.frames.filter((f) => f.type === 'ack');
    assert.equal(acks[0], { type: 'ack', id: 'py-curtail', ok: true });
    assert.equal(acks[1].id, 'py-bad');
    assert.equal(acks[1].ok, false);
    assert.equal(seen, ['curtail']);
    await until(() => journal.stats().frames === 0);
  } finally {
    await up.stop();
    await stopPy(py);
    journal.close();
    rmDir(dir);
  }
});

test('The other stack refuses a wrong token with 401 and the agent reports it', async () => {
  const py = await startPy();
  const dir = tmpDir('interop');
  const journal = Journal.open({ dir });
  const up = new Uplink({ url: `ws://127.0.0.1:${py.port}/`, token: 'not-it', agentId: 'board-17', version: '0.1.0', bootId: 'b-1', journal }, new VirtualClock());
  try {
    up.start();
    const [status] = await waitFor<[number]>(up, 'auth_failed');
    assert.is(status, 401);
    assert.equal(py.frames, []);
  } finally {
    await up.stop();
    await stopPy(py);
    journal.close();
    rmDir(dir);
  }
});

test.run();
