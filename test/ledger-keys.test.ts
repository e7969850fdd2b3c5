import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VirtualClock } from '../agent/clock';
import { moveAside } from '../agent/ledger/ledger';
import { readKey } from '../agent/ledger/keys';
import type { LedgerRecord } from '../agent/ledger/record';
import { verifyLedgerFile } from '../agent/ledger/verify';
import { lines, startSite, T0, tmpdir } from './fixtures/ledger/rig';

/** Key changes keep every earlier chain whole: no ledger file is ever overwritten. */

test('Key changes A → B → A → B keep all four chains, each verifying with its own key', async () => {
  const dir = tmpdir();
  const keyFile = path.join(dir, 'ledger.key');
  const clock = new VirtualClock(T0);
  const pems: Record<string, string> = {};
  const runs: { key: string; hashes: string[] }[] = [];
  for (const who of ['A', 'B', 'A', 'B']) {
    if (pems[who]) fs.writeFileSync(keyFile, pems[who], { mode: 0o600 }); // a backup key restored
    else fs.rmSync(keyFile, { force: true }); // a new key made at start
    const site = await startSite(dir, {}, {}, clock);
    pems[who] ??= fs.readFileSync(keyFile, 'utf8');
    clock.advance(120_000);
    site.stop();
    await site.ledger.stop();
    runs.push({ key: site.ledger.keyId, hashes: lines(site.ledger.file).map((l) => (JSON.parse(l) as LedgerRecord).hash) });
  }
  const [a, b] = [runs[0].key, runs[1].key];
  assert.is(runs[2].key, a);
  assert.is(runs[3].key, b);
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.jsonl')).sort();
  assert.equal(files, [`ledger.${a}.2.jsonl`, `ledger.${a}.jsonl`, `ledger.${b}.jsonl`, 'ledger.jsonl'].sort());
  const expect: [string, number][] = [[`ledger.${a}.jsonl`, 0], [`ledger.${b}.jsonl`, 1], [`ledger.${a}.2.jsonl`, 2], ['ledger.jsonl', 3]];
  for (const [f, i] of expect) {
    fs.writeFileSync(keyFile, pems[i % 2 ? 'B' : 'A'], { mode: 0o600 });
    const r = verifyLedgerFile(path.join(dir, f), readKey(dir)!.publicKey);
    assert.ok(r.ok, `${f}: ${r.broken?.reason}`);
    assert.equal(r.records.map((x) => x.hash), runs[i].hashes, `${f} is run ${i + 1}'s chain, whole`);
  }
  fs.rmSync(dir, { recursive: true });
});

test('Moving a ledger aside never replaces a file, finds its own link after a crash, and keeps a forged key id out of the path', () => {
  const dir = tmpdir();
  const file = path.join(dir, 'ledger.jsonl');
  const id = '0123456789abcdef';
  fs.writeFileSync(path.join(dir, `ledger.${id}.jsonl`), 'first\n');
  fs.writeFileSync(file, 'second\n');
  assert.is(moveAside(file, dir, id), path.join(dir, `ledger.${id}.2.jsonl`));
  assert.is(fs.readFileSync(path.join(dir, `ledger.${id}.jsonl`), 'utf8'), 'first\n');
  assert.is(fs.readFileSync(path.join(dir, `ledger.${id}.2.jsonl`), 'utf8'), 'second\n');
  assert.not.ok(fs.existsSync(file));

  // a start that crashed between link and unlink left the same file under both names
  fs.writeFileSync(file, 'third\n');
  fs.linkSync(file, path.join(dir, `ledger.${id}.3.jsonl`));
  assert.is(moveAside(file, dir, id), path.join(dir, `ledger.${id}.3.jsonl`));
  assert.equal(fs.readdirSync(dir).sort(), [`ledger.${id}.2.jsonl`, `ledger.${id}.3.jsonl`, `ledger.${id}.jsonl`]);

  // the key id is read from a record not yet verified: it never names a path outside dir
  fs.writeFileSync(file, 'fourth\n');
  assert.is(moveAside(file, dir, '../../etc/evil'), path.join(dir, 'ledger.unknown-key.jsonl'));
  fs.rmSync(dir, { recursive: true });
});

test.run();
