import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '../agent/cli-args';
import { simCommand } from '../agent/sim-command';
import { readSummary, sim, tmp } from './fixtures/scenarios/run';

// `hashflex sim --scenario openadr-events` on the real wires: a simulated VTN on 127.31.0.1,
// the agent's VEN with its webhook listener on 127.31.0.2, the events created and deleted at
// their times. 80 s covers the scenario's first event: an open-ended emergency alert, deleted
// after 60 s. The assertions are about what the site did and in which order, not how fast
// beyond the scenario's own 12 s.
const dir = tmp();
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('The openadr-events scenario curtails on the emergency alert, releases on its deletion and reports the events table', async () => {
  const report = path.join(dir, 'openadr.html');
  const logFile = path.join(dir, 'agent.log');
  const before = process.env.HASHFLEX_LOG_FILE;
  process.env.HASHFLEX_LOG_FILE = logFile;
  let r;
  try {
    r = await sim(['--scenario', 'openadr-events', '--duration', '80', '--report', report]);
  } finally {
    if (before === undefined) delete process.env.HASHFLEX_LOG_FILE;
    else process.env.HASHFLEX_LOG_FILE = before;
  }
  const s = readSummary(report);
  assert.is(s.rig, 'wire');
  // cut short by --duration: incomplete, nothing reached failed, exit 0
  assert.is(s.verdict, 'incomplete', r.out);
  assert.is(r.code, 0, r.out + r.err);
  const result = Object.fromEntries(s.expectations.map((x) => [x.expect, x.result]));
  assert.is(result['trip from openadr'], 'pass', r.out);
  assert.is(result['state curtailed at 40 s'], 'pass', r.out);
  assert.is(result['no trip from underfrequency'], 'pass', r.out);
  // the later events were never created in 80 s: evidence still to come, not a failure
  assert.is(result['openadr obeyed within 12 s'], 'not reached', r.out);
  assert.is(result['state running at 470 s'], 'not reached');

  const events = s.openadr_events ?? [];
  assert.equal(events.map((e) => e.name), ['grid-emergency']);
  const alert = events[0];
  assert.is(alert.type, 'ALERT_GRID_EMERGENCY');
  assert.is(alert.end_s, undefined, 'open-ended');
  assert.ok(alert.deleted_s !== undefined && alert.deleted_s >= 70, JSON.stringify(alert));
  assert.ok(alert.seen_after_s !== null && alert.seen_after_s <= 12, JSON.stringify(alert));
  assert.is(alert.state, 'curtailed', JSON.stringify(alert));
  assert.ok(alert.ended_after_s !== undefined && alert.ended_after_s !== null && alert.ended_after_s <= 12, JSON.stringify(alert));
  assert.ok(s.trips.some((t) => t.source === 'openadr' && t.t_s > 10 && t.t_s < alert.deleted_s!), JSON.stringify(s.trips));

  const html = fs.readFileSync(report, 'utf8');
  assert.match(html, /<h2>OpenADR events<\/h2>/);
  assert.match(html, /grid-emergency/);
  assert.match(r.out, /openadr: grid-emergency ALERT_GRID_EMERGENCY at 0:1\d \(curtail, seen after [\d.]+ s, ended [\d.]+ s after its deletion\)/);
});

test('The time-leap rig refuses a scenario with OpenADR events as bad usage', async () => {
  const err = await simCommand(['--scenario', 'openadr-events', '--speed', 'max']).then(() => undefined, (e: unknown) => e);
  assert.instance(err, UsageError);
  assert.match((err as Error).message, /--speed 1/);
});

test.run();
