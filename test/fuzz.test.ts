import fc from 'fast-check';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, loadConfig } from '../agent/config';
import { ErrorCode } from '../agent/errors';
import { responseSplitter } from '../drivers/hashboard/framing';
import { FirmataStreamMonitor } from '../drivers/io/monitor';
import { regResponse } from '../drivers/hashboard/codec';
import { TARGETS } from './fixtures/fuzz';
import { field } from './fixtures/fuzz/common';
import { runTarget } from './fixtures/fuzz/run';

/**
 * The standing slice of `npm run fuzz`: every parser the agent owns, a few hundred generated
 * cases each from a fixed seed (so a failure here reproduces exactly), plus the memory bounds
 * after megabytes of garbage. `npm run fuzz` runs 100,000 cases per parser.
 */
const t = suite('fuzz slice');
const SEED = 20261129;
const RUNS = 200;

for (const { name, make } of TARGETS) {
  // config cases write a file and run the YAML parser and zod: about 20 times slower than the rest
  const runs = name === 'config files' ? 80 : RUNS;
  t(`The ${name} parser survives ${runs} generated inputs (seed ${SEED})`, async () => {
    const r = await runTarget(make, runs, SEED);
    assert.is(r.failures, 0, r.repro ? `seed ${r.repro.seed} path ${r.repro.path}: ${r.repro.error}\n${r.repro.counterexample}` : '');
  });
}

t('The hashboard frame splitter holds at most 4 KiB after 4 MiB of garbage and still finds the next frame', () => {
  const got: Buffer[] = [];
  const s = responseSplitter((f) => got.push(f));
  const rnd = fc.sample(fc.uint8Array({ minLength: 65536, maxLength: 65536 }), { seed: SEED, numRuns: 64 });
  for (const chunk of rnd) s.push(Buffer.from(chunk));
  assert.ok(field<Buffer>(s, 'buf').length <= 4096, `holds ${field<Buffer>(s, 'buf').length} bytes`);
  const before = got.length;
  const good = regResponse(0x13660000, 0, 0);
  s.push(Buffer.concat([good, good]));
  assert.ok(got.length - before >= 1, 'a good frame after the garbage is delivered');
  assert.equal(got[got.length - 1], good);
  assert.ok(s.stats.resyncs > 0 && s.stats.crcErrors > 0);
});

t('The Firmata stream monitor counts 4 MiB of noise as garbage without holding any of it', () => {
  const m = new FirmataStreamMonitor();
  const rnd = fc.sample(fc.uint8Array({ minLength: 65536, maxLength: 65536 }), { seed: SEED, numRuns: 64 });
  for (const chunk of rnd) m.feed(chunk);
  assert.ok(field<number>(m, 'pending') <= 1025);
  assert.ok(m.garbage > 1_000_000, `garbage ${m.garbage}`);
  m.feed(Buffer.from([0xf9, 2, 5]));
  assert.is(m.feed(Buffer.from([0xe0, 0x7f, 0x07])), 1, 'the next good message counts as a frame');
});

t('A YAML alias to a missing anchor is a config error, not a crash (found by the fuzzer)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hashflex-fuzz-'));
  const file = path.join(dir, 'agent.yaml');
  fs.writeFileSync(file, 'agent: { id: *board }\n');
  try {
    loadConfig(file);
    assert.unreachable('loadConfig accepted an unresolved alias');
  } catch (e) {
    assert.instance(e, ConfigError, `threw ${(e as Error).constructor.name}: ${(e as Error).message}`);
    assert.is((e as ConfigError).code, ErrorCode.ConfigInvalid);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

t('A list or map as a YAML key is a config error at its line, and YAML prints no warning (found by the fuzzer)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hashflex-fuzz-'));
  const file = path.join(dir, 'agent.yaml');
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.message);
  const emit = process.emitWarning;
  // yaml warns through process.emitWarning; catch it synchronously, before Node prints it
  process.emitWarning = ((w: string | Error) => { onWarning(typeof w === 'string' ? new Error(w) : w); }) as typeof process.emitWarning;
  try {
    const cases = [
      ['agent: { id: b }\n? { serial: x }\n: 1\n', 'line 2 column 3'], // an explicit key
      ['agent: { id: b }\nboards:\n  - { [a, b]: 1 }\n', 'line 3 column 7'], // a flow sequence as a key
      ['k: &k [x]\n*k : 1\n', 'line 2 column 1'], // an alias to a sequence
    ] as const;
    for (const [text, at] of cases) {
      fs.writeFileSync(file, text);
      try {
        loadConfig(file);
        assert.unreachable('loadConfig accepted a collection key');
      } catch (e) {
        assert.instance(e, ConfigError, `threw ${(e as Error).constructor.name}: ${(e as Error).message}`);
        assert.equal((e as ConfigError).problems, [`(yaml) ${at}: a key must be a name, not a list or map`], text);
      }
    }
    assert.equal(warnings, []);
  } finally {
    process.emitWarning = emit;
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

t.run();
