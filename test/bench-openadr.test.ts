import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { OpenAdrBenchResult } from '../scripts/bench/openadr';
import { hashflex } from './harness/cli';

// Structure of `hashflex bench openadr` only: no timings are asserted (DESIGN.md §6). The bench
// takes loopback 127.29.0.x (its VTN at .1, the agent's webhook listener at .2).

test('bench openadr --json runs both series and reports every event obeyed with trip source openadr', async () => {
  const iterations = 2;
  const p = hashflex(['bench', 'openadr', '--json', '--iterations', String(iterations)], { HASHFLEX_LOG: 'error' });
  assert.is(await p.exited, 0, p.err());
  const out = JSON.parse(p.out()) as { results: { openadr: OpenAdrBenchResult } };
  const b = out.results.openadr;
  assert.is(b.iterations, iterations);
  assert.equal(b.series.map((s) => s.mode), ['polling', 'webhook']);
  for (const s of b.series) {
    assert.is(s.events, iterations, s.mode);
    assert.is(s.obeyedEvents, iterations, `${s.mode}: every event curtailed the site as openadr`);
    for (const f of [s.obeyed, s.agent, s.release]) {
      assert.is(f.n, iterations, s.mode);
      assert.ok(f.p50 >= 0 && f.p50 <= f.p99 && f.p99 <= f.max, `${s.mode}: ordered figures`);
    }
    assert.is(s.targetMs, s.mode === 'polling' ? s.pollS * 1000 + 1000 : 1000);
    assert.type(s.met, 'boolean');
  }
  const polling = b.series[0], webhook = b.series[1];
  assert.is(polling.notificationsDelivered, undefined, 'the polling series has no listener');
  // each event is notified created and deleted
  assert.ok((webhook.notificationsDelivered ?? 0) >= 2 * iterations, `notifications delivered: ${webhook.notificationsDelivered}`);
});

test('bench openadr refuses an iteration count that is not a number above 0 before starting anything', async () => {
  const p = hashflex(['bench', 'openadr', '--iterations', 'many']);
  assert.is(await p.exited, 2, 'bad usage');
  assert.match(p.err(), /--iterations must be a number > 0/);
  assert.not.match(p.err(), /openadr (polling|webhook):/, 'no series ran');
});

test.run();
