import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { FIXTURES, readSummary, sim, tmp } from './fixtures/scenarios/run';

// The real-wire rig (meter on Modbus TCP, chains and I/O board on ptys, controller on WebSocket)
// runs a scenario file's command and fault tracks in real time and reports them. The assertions
// are about what happened and in which order, never about how fast.
const dir = tmp();
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('At --speed 1 the real-wire rig sends the commands through the controller, injects every fault kind and writes the report', async () => {
  const report = path.join(dir, 'wire.html');
  const logFile = path.join(dir, 'agent.log');
  const before = process.env.HASHFLEX_LOG_FILE;
  process.env.HASHFLEX_LOG_FILE = logFile;
  let r;
  try {
    r = await sim(['--scenario', path.join(FIXTURES, 'wire-tracks.csv'), '--duration', '12', '--report', report]);
  } finally {
    if (before === undefined) delete process.env.HASHFLEX_LOG_FILE;
    else process.env.HASHFLEX_LOG_FILE = before;
  }
  const s = readSummary(report);
  assert.is(s.rig, 'wire');
  // --duration is the scenario's length: the run is complete, its verdict final
  assert.is(s.verdict, 'pass', r.out);
  assert.is(r.code, 0);
  assert.equal(s.commands.map((c) => c.action), ['curtail', 'release', 'set_power']);
  assert.ok(s.commands[0].delivered && s.commands[0].ok, 'curtail acknowledged over the uplink');
  assert.equal(s.faults.map((f) => f.kind), ['board-garbage', 'meter-silence', 'io-loss', 'controller-outage']);
  const sources = s.trips.map((t) => t.source);
  assert.ok(sources.indexOf('command') < sources.indexOf('meter-lost'), sources.join());
  assert.ok(sources.includes('io-lost'), sources.join());
  assert.match(s.faults[0].seen.join(), /link hb1: \d+ resyncs/);
  assert.ok(s.trips.every((t) => t.latency_ms >= 0));
  assert.equal(s.expectations.map((x) => x.result), ['pass', 'pass', 'pass']);
  assert.match(fs.readFileSync(report, 'utf8'), /real-wire rig/);
});

test.run();
