import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MbapSplitter } from '../agent/grid/scada/codec';
import { scadaFrames } from './fixtures/fuzz/scada';
import { runTarget } from './fixtures/fuzz/run';
import { field } from './fixtures/fuzz/common';
import { scadaRig, until } from './fixtures/scada/rig';

/**
 * Fuzzed frames against the SCADA server: the `scada frames` fuzz target (npm run fuzz runs it
 * 100,000 times) for a longer slice than the shared fuzz suite, a megabyte of noise through the
 * splitter, and generated garbage on live connections while the RTU's connection curtails.
 */
const SEED = 20261130;

test('The scada frames target survives 2,000 generated request streams (seed 20261130)', async () => {
  const r = await runTarget(scadaFrames, 2000, SEED);
  assert.is(r.failures, 0, r.repro ? `seed ${r.repro.seed} path ${r.repro.path}: ${r.repro.error}\n${r.repro.counterexample}` : '');
  assert.ok(r.stats.replies > 1000 && r.stats.exceptions > 100 && r.stats.writes > 10, JSON.stringify(r.stats));
});

test('A megabyte of noise leaves the splitter holding at most one frame, or stops it with an error', () => {
  const chunks = fc.sample(fc.uint8Array({ minLength: 4096, maxLength: 4096 }), { seed: SEED, numRuns: 256 });
  let errors = 0;
  for (const c of chunks) {
    const s = new MbapSplitter();
    if (s.push(Buffer.from(c), () => {})) errors++;
    assert.ok(field<number>(s, 'heldLen') <= 260);
  }
  assert.ok(errors > 200, `noise is almost never Modbus TCP: ${errors} of 256 streams refused`);
});

test('Garbage on eight live connections never stands in the way of the curtail coil on the RTU\'s own', async () => {
  const r = await scadaRig({ limits: { maxClients: 16, acceptsPerS: 100 } });
  try {
    await r.run(60_000);
    const rtu = await r.rtu();
    const garbage = fc.sample(fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { minLength: 1, maxLength: 20 }), { seed: SEED, numRuns: 8 });
    const bad = await Promise.all(garbage.map(() => r.rtu()));
    bad.forEach((b, i) => { for (const g of garbage[i]) b.raw(Buffer.from(g)); });
    const reply = await rtu.writeCoil(0, true);
    assert.is(reply.exception, undefined);
    assert.ok(r.allOff(), 'all boards off at the reply');
    // each garbage connection is closed (not Modbus) or left holding at most a partial frame
    await until(() => r.scada.stats.malformed >= 1, 'malformed streams closed');
    assert.is(await rtu.readCoil(), true, 'the RTU\'s connection is still served');
    await rtu.writeCoil(0, false);
    assert.is(r.site.controller.state, 'ramping');
  } finally {
    await r.close();
  }
});

test.run();
