import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VirtualClock } from '../agent/clock';
import { ledgerCommand } from '../agent/ledger/command';
import { ledgerSchema, meterIdentity } from '../agent/ledger/config';
import { CSV_COLUMNS, type ExportDocument } from '../agent/ledger/export';
import { publicKeyText } from '../agent/ledger/keys';
import { Ledger } from '../agent/ledger/ledger';
import type { LedgerRecord } from '../agent/ledger/record';
import { verifyLedgerFile } from '../agent/ledger/verify';
import { ledgerEventBody, wireLedger } from '../agent/ledger/wire';
import { captureIo, lines, startSite, T0, tmpdir, writeConfig, writeLines } from './fixtures/ledger/rig';

const run = async (argv: string[]) => {
  const io = captureIo();
  const code = await ledgerCommand(argv, io);
  return { code, out: io.stdout, err: io.stderr };
};

/** a board dir with a five-record ledger and its config */
async function board() {
  const dir = tmpdir();
  const site = await startSite(dir);
  site.clock.advance(299_500);
  site.stop();
  await site.ledger.stop();
  return { dir, config: writeConfig(dir), file: site.ledger.file, key: publicKeyText(site.ledger.publicKey) };
}

test('Bad usage exits 2 with the usage text', async () => {
  const b = await board();
  for (const argv of [
    [], ['frobnicate'], ['verify'], ['verify', b.file], ['verify', b.file, '--key', 'not-a-key'], ['verify', b.file, '--key', b.key, '--bogus'],
    ['key'], ['export', '--from', 'yesterday', '-c', b.config], ['export'], ['export', '-c', b.config, '--file', b.file],
    ['export', '-c', b.config, '--from', '2026-01-01T00:03:00Z', '--to', '2026-01-01T00:01:00Z'], ['verify', b.file, 'extra', '--key', b.key],
  ]) {
    const r = await run(argv);
    assert.is(r.code, 2, `${argv.join(' ')}: ${r.err}`);
    assert.match(r.err, /usage:/);
  }
  const help = await run(['--help']);
  assert.is(help.code, 0);
  assert.match(help.out, /hashflex ledger verify FILE --key PUBKEY/);
  fs.rmSync(b.dir, { recursive: true });
});

test('ledger key prints the public key in base64 SPKI DER or PEM, and either verifies', async () => {
  const b = await board();
  const k = await run(['key', '-c', b.config]);
  assert.is(k.code, 0);
  assert.match(k.out, /^MCowBQYDK2VwAyEA[A-Za-z0-9+/]{43}=\n$/);
  const pem = await run(['key', '-c', b.config, '--pem']);
  assert.match(pem.out, /^-----BEGIN PUBLIC KEY-----\n/);
  const pemFile = path.join(b.dir, 'board.pub');
  fs.writeFileSync(pemFile, pem.out);
  assert.is((await run(['verify', b.file, '--key', k.out.trim()])).code, 0);
  assert.is((await run(['verify', b.file, '--key', pemFile])).code, 0, 'a file holding the PEM');
  const raw = Buffer.from(k.out.trim(), 'base64').subarray(12).toString('hex');
  assert.is((await run(['verify', b.file, '--key', raw])).code, 0, 'the raw 32-byte key in hex');
  fs.rmSync(b.dir, { recursive: true });
});

test('ledger key without a key yet says so and exits 1, and --create makes one owner-only', async () => {
  const dir = tmpdir();
  const config = writeConfig(dir);
  const none = await run(['key', '-c', config]);
  assert.is(none.code, 1);
  assert.match(none.err, /no ledger\.key/);
  const made = await run(['key', '-c', config, '--create']);
  assert.is(made.code, 0);
  assert.is(fs.statSync(path.join(dir, 'ledger.key')).mode & 0o777, 0o600);
  assert.is((await run(['key', '-c', config])).out, made.out);
  const badConfig = path.join(dir, 'bad.json');
  fs.writeFileSync(badConfig, '{"agent":{}}');
  assert.is((await run(['key', '-c', badConfig])).code, 2, 'a bad config is bad usage');
  fs.rmSync(dir, { recursive: true });
});

test('ledger verify --json prints the totals and the break', async () => {
  const b = await board();
  const ok = await run(['verify', b.file, '--key', b.key, '--json']);
  const doc = JSON.parse(ok.out);
  assert.is(doc.ok, true);
  assert.is(doc.totals.records, 5);
  const ls = lines(b.file);
  const broken = path.join(b.dir, 'broken.jsonl');
  writeLines(broken, [ls[0], ls[2], ls[1], ...ls.slice(3)]);
  const bad = await run(['verify', broken, '--key', b.key, '--json']);
  assert.is(bad.code, 1);
  assert.equal(JSON.parse(bad.out).broken, { line: 2, seq: 2, reason: 'out of order: expected seq 1 here, it is at line 3' });
  const missing = await run(['verify', path.join(b.dir, 'nope.jsonl'), '--key', b.key]);
  assert.is(missing.code, 1);
  assert.match(missing.err, /ENOENT/);
  fs.rmSync(b.dir, { recursive: true });
});

test('ledger export writes CSV and JSON for the intervals starting in the range', async () => {
  const b = await board();
  const prefix = path.join(b.dir, 'out', 'report');
  const r = await run(['export', '-c', b.config, '--from', '2026-01-01T00:01:00Z', '--to', '2026-01-01T00:04:00Z', '--out', prefix]);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /3 intervals/);
  const csv = fs.readFileSync(`${prefix}.csv`, 'utf8').trim().split('\n');
  assert.is(csv[0], CSV_COLUMNS.join(','));
  assert.equal(csv.slice(1).map((l) => l.split(',')[0]), ['1', '2', '3']);
  const doc = JSON.parse(fs.readFileSync(`${prefix}.json`, 'utf8')) as ExportDocument;
  assert.is(doc.verified, 'signatures');
  assert.is(doc.public_key, b.key);
  assert.equal(doc.records.map((x) => x.seq), [1, 2, 3]);
  const sum = doc.records.reduce((a, x) => a + x.miner_kwh, 0);
  assert.ok(Math.abs(doc.totals.miner_kwh - sum) < 1e-6);
  assert.is(doc.totals.records, 3);

  const fromFile = await run(['export', '--file', b.file, '--out', path.join(b.dir, 'all')]);
  assert.is(fromFile.code, 0);
  assert.match(fromFile.err, /signatures not/);
  assert.is((JSON.parse(fs.readFileSync(path.join(b.dir, 'all.json'), 'utf8')) as ExportDocument).records.length, 5);
  fs.rmSync(b.dir, { recursive: true });
});

test('ledger export refuses a broken ledger and writes nothing', async () => {
  const b = await board();
  const ls = lines(b.file);
  writeLines(b.file, [ls[0], ...ls.slice(2)]);
  const prefix = path.join(b.dir, 'report');
  const r = await run(['export', '-c', b.config, '--out', prefix]);
  assert.is(r.code, 1);
  assert.match(r.err, /broken at line 2 \(record seq 2\).*nothing exported/);
  assert.not.ok(fs.existsSync(`${prefix}.csv`));
  fs.rmSync(b.dir, { recursive: true });
});

test('wireLedger feeds samples, miner power, trips, releases and commands, and records go up as events', async () => {
  const dir = tmpdir();
  const clock = new VirtualClock(T0);
  const ledger = new Ledger({ dir, meterId: 'm' }, clock);
  await ledger.start();
  const meter = new EventEmitter();
  const site = new EventEmitter();
  const uplink = new EventEmitter();
  let minersKw = 3;
  const detach = wireLedger(ledger, { meter, site, uplink, clock, minersKw: () => minersKw });
  const sent: unknown[] = [];
  ledger.on('record', (r: LedgerRecord) => sent.push(ledgerEventBody(r)));
  let e = 0;
  const poll = clock.setInterval(() => {
    e += 1 / 3600;
    meter.emit('sample', { at: clock.now(), hz: 60, kw: -1, importKwh: 0, exportKwh: e });
  }, 1000);
  clock.advance(20_000);
  site.emit('trip', { source: 'command', latencyMs: 2.345, at: clock.now() });
  uplink.emit('command', { id: 'c7', action: 'curtail' });
  minersKw = 0;
  clock.advance(20_000);
  site.emit('control', { kind: 'release', source: 'command', by: 'command' });
  site.emit('control', { kind: 'fault', source: 'io', detail: 'x' });
  clock.advance(19_500);
  poll.cancel();
  detach();
  await ledger.stop();
  const [rec] = lines(ledger.file).map((l) => JSON.parse(l) as LedgerRecord);
  assert.equal(rec.events.map((x) => [x.kind, x.source ?? x.id]), [['trip', 'command'], ['command', 'c7'], ['release', 'command']]);
  assert.is(rec.events[0].latency_ms, 2.35);
  assert.ok(Math.abs(rec.miner_kwh - (3 * 20) / 3600) < 1e-4, `miner energy ${rec.miner_kwh}`);
  assert.is(rec.source, 'counters');
  assert.equal(sent, [{ kind: 'ledger', source: 'ledger', record: rec }]);
  assert.is(clock.pending, 0, 'no timers left running');
  assert.ok(verifyLedgerFile(ledger.file, ledger.publicKey).ok);
  fs.rmSync(dir, { recursive: true });
});

test('The ledger config section has its documented defaults and limits', () => {
  assert.equal(ledgerSchema.parse(undefined), { enabled: true, interval_s: 60, hold_ms: 5000 });
  assert.is(ledgerSchema.safeParse({ interval_s: 5 }).success, false);
  assert.is(ledgerSchema.safeParse({ interval_s: 60, colour: 'red' }).success, false);
  assert.is(meterIdentity({ model: 'sdm630', tcp: '127.0.0.1:1502', unit: 1 }), 'sdm630@127.0.0.1:1502/1');
  assert.is(meterIdentity({ model: 'sunspec', serial: { path: '/dev/ttyUSB1' }, unit: 3 }), 'sunspec@/dev/ttyUSB1/3');
});

test.run();
