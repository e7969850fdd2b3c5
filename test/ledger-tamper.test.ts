import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ledgerCommand } from '../agent/ledger/command';
import { keyId, publicKeyText, readKey } from '../agent/ledger/keys';
import { sealRecord, type LedgerRecord, type RecordBody } from '../agent/ledger/record';
import { verifyLedger, type VerifyResult } from '../agent/ledger/verify';
import { captureIo, lines, startSite, tmpdir, writeLines } from './fixtures/ledger/rig';
import { needs, peer } from './harness/peers';

/** A seven-record ledger made once; each test tampers with a copy of its lines. */
let dir = '';
let file = '';
let original: string[] = [];
let pub: KeyObject;

test.before(async () => {
  dir = tmpdir();
  const site = await startSite(dir);
  site.clock.advance(90_000);
  site.ledger.note('trip', { source: 'underfrequency', latency_ms: 4.1 });
  site.clock.advance(270_500);
  site.stop();
  await site.ledger.stop();
  file = site.ledger.file;
  original = lines(file);
  pub = site.ledger.publicKey;
});

test.after(() => fs.rmSync(dir, { recursive: true }));

function check(ls: string[]): VerifyResult {
  return verifyLedger(ls.map((l) => `${l}\n`).join(''), pub);
}

function brokenAt(r: VerifyResult, line: number, seq: number | undefined, reason?: RegExp): void {
  assert.is(r.ok, false, 'verification fails');
  assert.is(r.broken!.line, line, `broken at line ${r.broken!.line}: ${r.broken!.reason}`);
  assert.is(r.broken!.seq, seq);
  if (reason) assert.match(r.broken!.reason, reason);
}

/** rebuild records from index `from` on with `key`, relinking the chain, after `edit` */
function reseal(ls: string[], from: number, key: KeyObject, edit: (b: RecordBody, i: number) => void = () => {}, stampKey = false): string[] {
  const out = ls.slice(0, from);
  let prev = (JSON.parse(ls[from - 1] ?? '{}') as LedgerRecord).hash;
  for (let i = from; i < ls.length; i++) {
    const { hash: _h, sig: _s, ...body } = JSON.parse(ls[i]) as LedgerRecord;
    if (prev !== undefined) body.prev = prev;
    if (stampKey) body.key = keyId(generateKeyPairSync('ed25519').publicKey);
    edit(body, i);
    const sealed = sealRecord(body, key);
    out.push(sealed.line.slice(0, -1));
    prev = sealed.record.hash;
  }
  return out;
}

test('The untouched ledger verifies', () => {
  const r = check(original);
  assert.ok(r.ok, r.broken?.reason);
  assert.is(r.totals.records, 7);
  assert.is(r.totals.trips, 1);
});

test('Flipping one byte anywhere in a record fails verification at that record', () => {
  const line = original[3];
  const at = (s: string) => line.indexOf(s) + s.length;
  const positions = [at('"import_kwh":'), at('"start":"2026-01-01T00:0'), at('"prev":"') + 10, at('"hash":"') + 5, at('"sig":"') + 20, 0];
  for (const pos of positions) {
    const bytes = Buffer.from(line);
    bytes[pos] ^= 0x01;
    const ls = [...original];
    ls[3] = bytes.toString('latin1');
    brokenAt(check(ls), 4, pos === 0 ? undefined : 3);
  }
});

test('Flipping any single bit of a record, byte by byte, fails verification at that record', () => {
  const line = Buffer.from(original[3]);
  for (let pos = 0; pos < line.length; pos++) {
    for (const bit of [0x01]) {
      const bytes = Buffer.from(line);
      bytes[pos] ^= bit;
      if (bytes[pos] === 0x0a) continue; // a newline splits the record in two: covered above
      const ls = [...original];
      ls[3] = bytes.toString('latin1');
      const r = check(ls);
      assert.is(r.ok, false, `flip 0x${bit.toString(16)} at byte ${pos} went unnoticed`);
      assert.is(r.broken!.line, 4, `flip at byte ${pos}: ${r.broken!.reason}`);
    }
  }
});

test('A flipped byte is reported by the CLI with its line and seq, exit 1', async () => {
  const ls = [...original];
  ls[3] = ls[3].replace('"source":"counters"', '"source":"countert"');
  const f = path.join(dir, 'flipped.jsonl');
  writeLines(f, ls);
  const io = captureIo();
  assert.is(await ledgerCommand(['verify', f, '--key', publicKeyText(pub)], io), 1);
  assert.match(io.stderr, /broken at line 4 \(record seq 3\): hash does not match/);
  assert.match(io.stdout, /BROKEN, 3 records \(seq 0\.\.2\)/);
});

test('Dropping a record fails verification at the record after the hole', () => {
  const ls = original.filter((_, i) => i !== 3);
  brokenAt(check(ls), 4, 4, /record seq 3 is missing/);
  brokenAt(check(original.slice(1)), 1, 1, /record seq 0 is missing/);
  brokenAt(check(original.filter((_, i) => i !== 2 && i !== 3)), 3, 4, /records seq 2\.\.3 are missing/);
});

test('Swapping two records fails verification at the first one out of place', () => {
  const ls = [...original];
  [ls[2], ls[3]] = [ls[3], ls[2]];
  brokenAt(check(ls), 3, 3, /out of order: expected seq 2 here, it is at line 4/);
});

test('Re-signing records with another key fails verification at the first re-signed record', () => {
  const other = generateKeyPairSync('ed25519').privateKey;
  brokenAt(check(reseal(original, 2, other)), 3, 2, /signature invalid/);
  brokenAt(check(reseal(original, 0, other, undefined, true)), 1, 0, /signed by another key/);
  // without the board's public key only the chain can be checked, and a re-signed chain holds
  const chainOnly = verifyLedger(reseal(original, 2, other).map((l) => `${l}\n`).join(''));
  assert.ok(chainOnly.ok);
  assert.is(chainOnly.signatures, false);
});

test('An undeclared gap fails verification even when every record is properly signed', () => {
  const board = readKey(dir)!.privateKey;
  const shifted = reseal(original, 3, board, (b, i) => {
    if (i === 3) b.start = new Date(Date.parse(b.start) + 5000).toISOString();
  });
  brokenAt(check(shifted), 4, 3, /undeclared gap of 5 s after seq 2/);
  const overlapping = reseal(original, 3, board, (b, i) => {
    if (i === 3) b.start = new Date(Date.parse(b.start) - 5000).toISOString();
  });
  brokenAt(check(overlapping), 4, 3, /overlaps seq 2/);
});

test('Counter readings that do not continue from the previous record fail verification', () => {
  const board = readKey(dir)!.privateKey;
  const ls = reseal(original, 3, board, (b, i) => {
    if (i === 3 && b.counters.start) b.counters.start = { ...b.counters.start, import_kwh: b.counters.start.import_kwh + 1 };
  });
  brokenAt(check(ls), 4, 3);
});

test('Figures that disagree with their own counter readings fail verification', () => {
  const board = readKey(dir)!.privateKey;
  const ls = reseal(original, 3, board, (b, i) => {
    if (i === 3) b.export_kwh += 0.5;
  });
  brokenAt(check(ls), 4, 3, /disagree with the record's own counter readings/);
});

test('A line that is not a record fails verification at that line', () => {
  brokenAt(check([...original.slice(0, 2), 'hello', ...original.slice(2)]), 3, undefined, /not a ledger record/);
  brokenAt(check([...original.slice(0, 2), '', ...original.slice(2)]), 3, undefined);
});

needs('python3-cryptography')('An independent Python verifier accepts the ledger and rejects a tampered one (no JSON re-serialization needed)', () => {
  const script = path.join(__dirname, '..', 'agent', 'ledger', 'verify_ledger.py');
  const python = peer('python3-cryptography')!;
  const py = (f: string) => spawnSync(python, [script, f, publicKeyText(pub)], { encoding: 'utf8', timeout: 20_000 });
  const good = py(file);
  assert.is(good.status, 0, good.stdout + good.stderr);
  assert.match(good.stdout, /7 records intact/);
  const ls = [...original];
  [ls[2], ls[3]] = [ls[3], ls[2]];
  const swapped = path.join(dir, 'swapped-py.jsonl');
  writeLines(swapped, ls);
  const bad = py(swapped);
  assert.is(bad.status, 1);
  assert.match(bad.stdout, /line 3: chain broken/);
});

test.run();
