import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VirtualClock, type Clock } from '../agent/clock';
import { ErrorCode, isHashflexError } from '../agent/errors';
import { ledgerCommand } from '../agent/ledger/command';
import { publicKeyText } from '../agent/ledger/keys';
import { Ledger } from '../agent/ledger/ledger';
import { GENESIS, type LedgerRecord } from '../agent/ledger/record';
import { verifyLedger, verifyLedgerFile } from '../agent/ledger/verify';
import { captureIo, lines, startSite, T0, tmpdir, writeConfig } from './fixtures/ledger/rig';

const near = (a: number, b: number, eps = 1e-5) => assert.ok(Math.abs(a - b) <= eps, `${a} is not within ${eps} of ${b}`);
const records = (file: string) => lines(file).map((l) => JSON.parse(l) as LedgerRecord);

test('A scenario driven through the ledger produces records that verify, with the CLI and the module', async () => {
  const dir = tmpdir();
  const site = await startSite(dir);
  const emitted: LedgerRecord[] = [];
  site.ledger.on('record', (r: LedgerRecord) => emitted.push(r));
  site.clock.advance(600_500);
  site.stop();
  await site.ledger.stop();

  const recs = records(site.ledger.file);
  assert.is(recs.length, 11, 'ten whole minutes and the half second before stop');
  assert.equal(recs.map((r) => r.seq), [...Array(11).keys()]);
  assert.is(recs[0].prev, GENESIS);
  assert.is(recs[0].start, new Date(T0).toISOString());
  assert.is(recs[9].end, new Date(T0 + 600_000).toISOString());
  assert.ok(recs.every((r) => r.source === 'counters'));
  assert.equal(emitted.map((r) => r.hash), recs.map((r) => r.hash), "'record' is emitted for each record, in order");

  const key = publicKeyText(site.ledger.publicKey);
  const io = captureIo();
  assert.is(await ledgerCommand(['verify', site.ledger.file, '--key', key], io), 0, io.stderr);
  assert.match(io.stdout, /intact, 11 records \(seq 0\.\.10\), signatures checked/);
  assert.match(io.stdout, /energy from surplus/);

  const r = verifyLedgerFile(site.ledger.file, site.ledger.publicKey);
  assert.ok(r.ok);
  assert.is(r.totals.records, 11);
  near(r.totals.import_kwh, site.importKwh);
  near(r.totals.export_kwh, site.exportKwh);
  near(r.totals.miner_kwh, site.minerKwh, 1e-3);
  assert.ok(r.totals.miner_grid_kwh > 0, 'the lagging miners imported a little');
  near(r.totals.miner_surplus_kwh + r.totals.miner_grid_kwh, r.totals.miner_kwh, 2e-5);
  assert.is(r.totals.gaps, 0);
  fs.rmSync(dir, { recursive: true });
});

test('Interval figures follow the documented surplus formula', async () => {
  const dir = tmpdir();
  const clock = new VirtualClock(T0);
  const ledger = new Ledger({ dir, meterId: 'm1', holdMs: 60_000 }, clock);
  await ledger.start();
  // 0–30 s: exporting 1 kW; 30–59.9 s: importing 0.5 kW; the miners draw 2 kW throughout
  const E = 30 / 3600;
  const I = (0.5 * 29.9) / 3600;
  ledger.miners(T0, 2);
  ledger.sample({ at: T0, hz: 60, kw: -1, importKwh: 100, exportKwh: 200 });
  clock.advance(30_000);
  ledger.sample({ at: T0 + 30_000, hz: 60, kw: 0.5, importKwh: 100, exportKwh: 200 + E });
  clock.advance(29_900);
  ledger.sample({ at: T0 + 59_900, hz: 60, kw: 0.5, importKwh: 100 + I, exportKwh: 200 + E });
  clock.advance(100);
  await ledger.stop();
  const [rec] = records(ledger.file);
  const M = 2 / 60;
  assert.is(rec.source, 'counters');
  near(rec.import_kwh, I, 2e-6);
  near(rec.export_kwh, E, 2e-6);
  near(rec.miner_kwh, M, 2e-6);
  assert.is(rec.miner_grid_kwh, Math.min(rec.miner_kwh, rec.import_kwh), 'miner_grid_kwh = min(miner_kwh, import_kwh)');
  near(rec.miner_surplus_kwh, rec.miner_kwh - rec.miner_grid_kwh, 2e-6);
  near(rec.surplus_kwh, rec.export_kwh + rec.miner_surplus_kwh, 2e-6);
  near(rec.sampled.miner_grid_kwh, (0.5 * 30) / 3600, 2e-6);
  assert.equal(rec.counters.start, { import_kwh: 100, export_kwh: 200 });
  fs.rmSync(dir, { recursive: true });
});

test('Energy comes from integrated power where the meter has no counters, and the record says so', async () => {
  const dir = tmpdir();
  const site = await startSite(dir);
  site.counters = false;
  site.clock.advance(120_000);
  site.counters = true; // the registers appear in the third minute
  site.clock.advance(180_000);
  site.stop();
  site.clock.advance(120_000); // the meter falls silent
  await site.ledger.stop();
  const recs = records(site.ledger.file);
  assert.equal(recs.map((r) => r.source), ['integrated', 'integrated', 'mixed', 'counters', 'counters', 'counters', 'none']);
  near(recs[5].unmeasured_s, 60 - 5, 1e-6); // power is held for 5 s after the last sample, no longer
  near(recs[6].unmeasured_s, 60, 1e-6);
  const r = verifyLedger(fs.readFileSync(site.ledger.file), site.ledger.publicKey);
  assert.ok(r.ok, r.broken?.reason);
  assert.equal(r.totals.sources, { counters: 3, integrated: 2, mixed: 1, none: 1 });
  near(r.totals.import_kwh, site.importKwh);
  near(r.totals.export_kwh, site.exportKwh);
  fs.rmSync(dir, { recursive: true });
});

test('A counter reset is recorded in its interval, not hidden, and the energy across it is still counted', async () => {
  const dir = tmpdir();
  const site = await startSite(dir, {}, { maxMinerKw: 2 });
  site.offset = { import: 1000, export: 2000 }; // a meter with history
  site.clock.advance(90_000);
  site.offset = { import: 0, export: 0 }; // the registers are cleared
  site.clock.advance(90_000);
  site.stop();
  await site.ledger.stop();
  const recs = records(site.ledger.file);
  const resets = recs[1].events.filter((e) => e.kind === 'counter-reset');
  assert.equal(resets.map((e) => e.register), ['import', 'export']);
  assert.ok((resets[1].from as number) > 2000 && (resets[1].to as number) < 1);
  assert.is(recs[1].source, 'mixed');
  assert.is(recs[2].source, 'counters');
  const r = verifyLedgerFile(site.ledger.file, site.ledger.publicKey);
  assert.ok(r.ok, r.broken?.reason);
  assert.is(r.totals.counter_resets, 2);
  near(r.totals.import_kwh, site.importKwh);
  near(r.totals.export_kwh, site.exportKwh);
  fs.rmSync(dir, { recursive: true });
});

test('A meter replacement is recorded, while running and across a restart', async () => {
  const dir = tmpdir();
  const site = await startSite(dir);
  site.clock.advance(70_000);
  site.ledger.meter('sdm630 SN 20011');
  site.clock.advance(60_000);
  site.stop();
  await site.ledger.stop();
  let recs = records(site.ledger.file);
  assert.equal(recs[1].events.filter((e) => e.kind === 'meter-replaced').map((e) => [e.from, e.to]), [['sdm630@127.0.0.1:1502/1', 'sdm630 SN 20011']]);
  assert.is(recs[1].meter, 'sdm630 SN 20011', 'a record names the meter in use at its end');

  const again = await startSite(dir, { meterId: 'sunspec@10.0.0.9:502/1' }, {}, site.clock);
  again.clock.advance(60_000);
  again.stop();
  await again.ledger.stop();
  recs = records(site.ledger.file);
  const first = recs[3];
  assert.ok(first.gap, 'the restart is a declared gap');
  assert.is(first.gap!.import_kwh, null, 'no register advance across a meter change');
  assert.equal(first.events.filter((e) => e.kind === 'meter-replaced').map((e) => e.to), ['sunspec@10.0.0.9:502/1']);
  const r = verifyLedgerFile(site.ledger.file, site.ledger.publicKey);
  assert.ok(r.ok, r.broken?.reason);
  assert.is(r.totals.meter_changes, 2);
  fs.rmSync(dir, { recursive: true });
});

test('The key is created owner-only at first start and reused across restarts, which are declared gaps', async () => {
  const dir = tmpdir();
  const one = await startSite(dir);
  const keyFile = path.join(dir, 'ledger.key');
  assert.is(fs.statSync(keyFile).mode & 0o777, 0o600);
  const id = one.ledger.keyId;
  one.clock.advance(150_000);
  one.stop();
  await one.ledger.stop();
  const before = one;

  one.clock.advance(600_000); // ten minutes down
  const two = await startSite(dir, {}, {}, one.clock);
  two.offset = { import: before.importKwh, export: before.exportKwh }; // the same meter kept counting
  assert.is(two.ledger.keyId, id);
  assert.is(fs.statSync(keyFile).mode & 0o777, 0o600);
  two.clock.advance(120_000);
  two.stop();
  await two.ledger.stop();

  const recs = records(two.ledger.file);
  assert.equal(recs.map((r) => r.seq), [...Array(recs.length).keys()]);
  const g = recs.find((r) => r.gap)!;
  assert.is(g.seq, 3);
  assert.equal([g.gap!.from, g.gap!.to], [recs[2].end, g.start]);
  assert.is(g.gap!.import_kwh, 0);
  const r = verifyLedgerFile(two.ledger.file, two.ledger.publicKey);
  assert.ok(r.ok, r.broken?.reason);
  assert.is(r.totals.gaps, 1);
  assert.is(r.totals.gap_s, 600);

  const io = captureIo();
  assert.is(await ledgerCommand(['key', '-c', writeConfig(dir)], io), 0, io.stderr);
  assert.is(io.stdout.trim(), publicKeyText(two.ledger.publicKey));
  fs.rmSync(dir, { recursive: true });
});

test('A key that others can read is narrowed to 0600 at start', async () => {
  const dir = tmpdir();
  const one = await startSite(dir);
  await one.ledger.stop();
  fs.chmodSync(path.join(dir, 'ledger.key'), 0o644);
  const two = await startSite(dir, {}, {}, one.clock);
  assert.is(fs.statSync(path.join(dir, 'ledger.key')).mode & 0o777, 0o600);
  assert.is(two.ledger.keyId, one.ledger.keyId);
  await two.ledger.stop();
  fs.rmSync(dir, { recursive: true });
});

test('A torn last line is reported by verify, moved aside at the next start, and recorded', async () => {
  const dir = tmpdir();
  const one = await startSite(dir);
  one.clock.advance(120_000);
  one.stop();
  await one.ledger.stop();
  const file = one.ledger.file;
  const fragment = '{"v":1,"seq":3,"start":"2026-01-01T00:0';
  const whole = lines(file).length;
  fs.appendFileSync(file, fragment);

  const r = verifyLedgerFile(file, one.ledger.publicKey);
  assert.ok(r.ok, 'the records before it are intact');
  assert.equal(r.torn, { line: whole + 1, bytes: fragment.length });
  const io = captureIo();
  assert.is(await ledgerCommand(['verify', file, '--key', publicKeyText(one.ledger.publicKey)], io), 0);
  assert.match(io.stdout, new RegExp(`line ${whole + 1} is torn`));

  const two = await startSite(dir, {}, {}, one.clock);
  assert.is(fs.readFileSync(`${file}.torn`, 'utf8'), `${fragment}\n`);
  two.clock.advance(60_000);
  two.stop();
  await two.ledger.stop();
  const after = verifyLedgerFile(file, two.ledger.publicKey);
  assert.ok(after.ok, after.broken?.reason);
  assert.is(after.torn, undefined);
  const recs = records(file);
  assert.equal(recs[whole].events.filter((e) => e.kind === 'torn-tail').map((e) => e.bytes), [fragment.length]);
  assert.is(after.totals.torn_tails, 1);
  fs.rmSync(dir, { recursive: true });
});

test('Trips and commands noted in an interval are in that record, and a record is emitted only once on disk', async () => {
  const dir = tmpdir();
  const site = await startSite(dir);
  const onDisk: boolean[] = [];
  site.ledger.on('record', (r: LedgerRecord) => onDisk.push(fs.readFileSync(site.ledger.file, 'utf8').includes(r.hash)));
  site.clock.advance(30_000);
  site.ledger.note('trip', { source: 'relay', latency_ms: 3.2 });
  site.ledger.note('command', { id: 'c1', action: 'curtail' });
  site.clock.advance(40_000);
  site.ledger.note('release', { source: 'relay', by: 'command' });
  site.clock.advance(50_000);
  site.stop();
  await site.ledger.stop();
  const recs = records(site.ledger.file);
  assert.equal(recs[0].events, [
    { source: 'relay', latency_ms: 3.2, at: new Date(T0 + 30_000).toISOString(), kind: 'trip' },
    { id: 'c1', action: 'curtail', at: new Date(T0 + 30_000).toISOString(), kind: 'command' },
  ]);
  assert.equal(recs[1].events.map((e) => e.kind), ['release']);
  assert.is(onDisk.length, recs.length);
  assert.ok(onDisk.every(Boolean));
  const r = verifyLedgerFile(site.ledger.file, site.ledger.publicKey);
  assert.equal([r.totals.trips, r.totals.commands, r.totals.releases], [1, 1, 1]);
  fs.rmSync(dir, { recursive: true });
});

test('A damaged last record stops the ledger from extending it', async () => {
  const dir = tmpdir();
  const one = await startSite(dir);
  one.clock.advance(120_000);
  one.stop();
  await one.ledger.stop();
  const ls = lines(one.ledger.file);
  ls[ls.length - 1] = ls[ls.length - 1].replace('"source"', '"sourcE"');
  fs.writeFileSync(one.ledger.file, `${ls.join('\n')}\n`);
  const again = new Ledger({ dir, meterId: 'm' }, one.clock);
  try {
    await again.start();
    assert.unreachable('should not start');
  } catch (e) {
    assert.ok(isHashflexError(e, ErrorCode.FrameInvalid), String(e));
  }
  fs.rmSync(dir, { recursive: true });
});

test('A new board key starts a new chain and keeps the old ledger whole beside it', async () => {
  const dir = tmpdir();
  const one = await startSite(dir);
  one.clock.advance(60_000);
  one.stop();
  await one.ledger.stop();
  const oldId = one.ledger.keyId;
  fs.rmSync(path.join(dir, 'ledger.key'));
  const two = await startSite(dir, {}, {}, one.clock);
  two.clock.advance(60_000);
  two.stop();
  await two.ledger.stop();
  assert.is.not(two.ledger.keyId, oldId);
  assert.ok(verifyLedgerFile(path.join(dir, `ledger.${oldId}.jsonl`), one.ledger.publicKey).ok);
  const r = verifyLedgerFile(two.ledger.file, two.ledger.publicKey);
  assert.ok(r.ok, r.broken?.reason);
  assert.is(r.totals.first_seq, 0);
  fs.rmSync(dir, { recursive: true });
});

test('A disk that refuses writes raises fault events and never throws into the agent', async () => {
  if (!fs.existsSync('/dev/full')) return; // Linux: every write to /dev/full fails with ENOSPC
  const dir = tmpdir();
  fs.symlinkSync('/dev/full', path.join(dir, 'ledger.jsonl'));
  const site = await startSite(dir);
  const faults: string[] = [];
  const written: number[] = [];
  site.ledger.on('fault', (e: NodeJS.ErrnoException) => faults.push(e.code ?? e.message));
  site.ledger.on('record', (r: LedgerRecord) => written.push(r.seq));
  site.clock.advance(60_000);
  await site.ledger.flush();
  site.clock.advance(60_000);
  await site.ledger.flush();
  site.stop();
  await site.ledger.stop();
  assert.ok(faults.length >= 2 && faults.every((c) => c === 'ENOSPC'), faults.join());
  assert.equal(written, []);
  assert.is(site.ledger.stats.writeErrors, faults.length);
  fs.rmSync(dir, { recursive: true });
});

test('A wall clock stepping far ahead is declared as a gap, not filled with empty records', async () => {
  const dir = tmpdir();
  const vc = new VirtualClock(T0);
  let skew = 0;
  const clock: Clock = { now: () => vc.now() + skew, monotonic: () => vc.monotonic(), setTimeout: (f, ms) => vc.setTimeout(f, ms), setInterval: (f, ms) => vc.setInterval(f, ms) };
  const ledger = new Ledger({ dir, meterId: 'm' }, clock);
  await ledger.start();
  let imp = 0;
  const poll = vc.setInterval(() => {
    imp += 2 / 3600;
    ledger.miners(clock.now(), 0);
    ledger.sample({ at: clock.now(), hz: 60, kw: 2, importKwh: imp, exportKwh: 0 });
  }, 1000);
  vc.advance(90_500);
  skew = 86_400_000; // NTP steps the clock a day ahead
  vc.advance(60_000);
  poll.cancel();
  await ledger.stop();
  const recs = records(ledger.file);
  assert.is(recs.length, 4);
  assert.is(recs[1].end, new Date(T0 + 90_000).toISOString(), 'the record before the step ends at the last sample');
  assert.equal(recs[2].gap && [recs[2].gap.reason, recs[2].gap.from, recs[2].gap.to], ['clock-jump', recs[1].end, new Date(T0 + 86_400_000 + 60_000).toISOString()]);
  const r = verifyLedgerFile(ledger.file, ledger.publicKey);
  assert.ok(r.ok, r.broken?.reason);
  near(r.totals.import_kwh, imp - 2 / 3600, 1e-5); // the registers run on through the step
  fs.rmSync(dir, { recursive: true });
});

test.run();
