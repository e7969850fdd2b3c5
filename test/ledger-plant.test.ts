import fs from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VirtualClock } from '../agent/clock';
import { ledgerCommand } from '../agent/ledger/command';
import { publicKeyText } from '../agent/ledger/keys';
import { Ledger } from '../agent/ledger/ledger';
import { verifyLedgerFile } from '../agent/ledger/verify';
import { Plant, type SimBoard } from '../sim/plant';
import { builtinScenarios } from '../sim/scenarios/builtin';
import { captureIo, T0, tmpdir } from './fixtures/ledger/rig';

/**
 * A day of the simulator's plant in virtual time, with miners that follow the surplus one
 * second late: the ledger's totals must match the plant's own meter registers (the
 * simulator's report) and the energy the plant's boards drew.
 */
test('A day of simulated surplus gives a ledger that verifies and whose totals match the plant', async () => {
  const dir = tmpdir();
  const clock = new VirtualClock(T0);
  const ledger = new Ledger({ dir, meterId: 'sim sdm630', intervalMs: 300_000 }, clock);
  await ledger.start();
  const plant = new Plant();
  // one simulated board whose power is set through its frequency: 20 W per chip per 100 MHz
  const board: SimBoard = { id: 'hb0', chips: 100, enabled: true, active: true, mhz: 0, tempC: 25, wattsPerChip: (mhz) => mhz * 0.2 };
  plant.boards.set(board.id, board);
  const scenario = builtinScenarios.demo;
  let minerKwh = 0;
  const poll = clock.setInterval(() => {
    const at = clock.now();
    minerKwh += plant.minersKw() / 3600;
    plant.tick(1000);
    const s = (at - T0) / 1000;
    // the miners take what was spare a second ago, less a 0.2 kW margin, up to 5 kW
    const spare = plant.generationKw - plant.baseLoadKw - 0.2;
    board.mhz = Math.max(0, Math.min(5, spare) * 1000 - 1) / 20;
    const p = scenario.at(s % scenario.durationS);
    plant.generationKw = p.generationKw;
    plant.baseLoadKw = p.baseLoadKw;
    ledger.miners(at, plant.minersKw());
    ledger.sample({ at, hz: p.hz, kw: plant.gridKw(), importKwh: plant.importKwh, exportKwh: plant.exportKwh });
  }, 1000);
  clock.advance(24 * 3_600_000);
  poll.cancel();
  await ledger.stop();

  const r = verifyLedgerFile(ledger.file, ledger.publicKey);
  assert.ok(r.ok, r.broken?.reason);
  assert.ok(r.totals.records >= 288);
  assert.equal(r.totals.sources.counters, r.totals.records);
  const near = (a: number, b: number, eps: number, what: string) => assert.ok(Math.abs(a - b) <= eps, `${what}: ledger ${a}, plant ${b}`);
  near(r.totals.import_kwh, plant.importKwh, 1e-3, 'import');
  near(r.totals.export_kwh, plant.exportKwh, 1e-3, 'export');
  near(r.totals.miner_kwh, minerKwh, 1e-3, 'miner energy');
  assert.ok(r.totals.miner_kwh > 50, 'the miners ran most of the day');
  assert.ok(r.totals.miner_grid_kwh <= r.totals.import_kwh);
  near(r.totals.surplus_kwh, r.totals.export_kwh + r.totals.miner_surplus_kwh, 1e-3, 'surplus');

  const io = captureIo();
  assert.is(await ledgerCommand(['verify', ledger.file, '--key', publicKeyText(ledger.publicKey)], io), 0);
  assert.match(io.stdout, /intact/);
  fs.rmSync(dir, { recursive: true });
});

test.run();
