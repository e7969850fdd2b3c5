import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CURTAIL_SOURCES } from '../agent/control/types';
import { MODE_CODE, REGISTERS, STATE_CODE, TRIP_BIT, words } from '../agent/grid/scada/map';
import MAP from '../schemas/scada-map.json';
import { wordsF32 } from '../sim/rtu';
import { scadaRig } from './fixtures/scada/rig';

/**
 * One register map, three places: schemas/scada-map.json (for integrators' tools), the README's
 * table (for integrators), and what the server answers. DESIGN.md §8's own table is checked
 * too where the shared design notes are beside the repository.
 */
const root = path.join(__dirname, '..');

/** `| address | type | meaning |` rows of the first table under `heading` */
function tableRows(text: string, heading: RegExp): { address: string; type: string; meaning: string }[] {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => heading.test(l));
  assert.ok(start >= 0, `heading ${heading}`);
  const head = lines.findIndex((l, i) => i > start && /^\| address \| type \| meaning \|$/.test(l.trim()));
  assert.ok(head > start, 'the register table');
  const rows: { address: string; type: string; meaning: string }[] = [];
  for (let i = head + 2; i < lines.length && lines[i].startsWith('|'); i++) {
    const [address, type, meaning] = lines[i].split('|').slice(1, -1).map((c) => c.trim());
    rows.push({ address, type, meaning });
  }
  return rows;
}

const fromMap = () => MAP.registers.map((r) => ({
  address: r.type === 'u16' ? String(r.address) : `${r.address}–${r.address + 1}`, type: r.type, meaning: r.meaning,
}));

test('The README register table is schemas/scada-map.json, row for row', () => {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  assert.equal(tableRows(readme, /^### SCADA/), fromMap());
});

test('DESIGN.md §8 (the contract) has the same table, where the design notes are at hand', () => {
  const design = path.join(root, '..', 'shared', 'DESIGN.md');
  if (!fs.existsSync(design)) return;
  assert.equal(tableRows(fs.readFileSync(design, 'utf8'), /^## 8\. SCADA/), fromMap());
});

test('The map\'s codes for state, mode and trip sources are the server\'s, and its meanings spell them out', () => {
  const byIndex = (rec: Record<string, number>) => Object.entries(rec).sort((a, b) => a[1] - b[1]).map(([k]) => k);
  assert.equal(byIndex(STATE_CODE), MAP.enums.state);
  assert.equal(byIndex(MODE_CODE), MAP.enums.mode);
  assert.equal(byIndex(TRIP_BIT), MAP.enums.trip_sources);
  const meaning = (name: string) => MAP.registers.find((r) => r.name === name)!.meaning;
  assert.ok(meaning('state').endsWith(MAP.enums.state.map((s, i) => `${i} ${s}`).join(', ')));
  assert.ok(meaning('trip_sources').endsWith(MAP.enums.trip_sources.map((s, i) => `${i} ${s}`).join(', ')));
  for (const s of CURTAIL_SOURCES) assert.ok(s in TRIP_BIT, s);
  // no two registers overlap, and only the cap and its lease are writable
  const used = new Set<number>();
  for (const r of REGISTERS) for (let w = 0; w < words(r.type); w++) { assert.not.ok(used.has(r.address + w)); used.add(r.address + w); }
  assert.equal(REGISTERS.filter((r) => r.access === 'rw').map((r) => r.name), ['cap_kw', 'cap_lease_s']);
});

test('The server answers every register of the map, over FC 03 and FC 04 alike, with the site\'s own figures', async () => {
  const r = await scadaRig();
  try {
    await r.run(60_000);
    await r.site.curtail('command');
    r.site.controller.release();
    await r.run(60_000);
    r.site.controller.setPower(2.5, 600);
    await r.run(5000);
    const rtu = await r.rtu();
    const t = r.site.telemetry();
    const want: Record<string, number> = {
      map_version: 1, state: STATE_CODE[r.site.controller.state], trip_sources: 0, mode: MODE_CODE.setpoint, heartbeat_s: 125,
      grid_hz: t.grid.hz, grid_kw: t.grid.kw, miners_kw: r.site.minersKw(), target_kw: r.site.controller.target, flexible_kw: r.site.minersKw(),
      capacity_kw: 10, last_trip_latency_ms: 0, trips: 1, cap_kw: 2.5, cap_lease_s: 0,
    };
    for (const fn of [3, 4] as const) {
      for (const def of MAP.registers) {
        const regs = await rtu.readRegisters(def.address, def.type === 'u16' ? 1 : 2, fn);
        assert.ok(Array.isArray(regs), `${def.name} FC ${fn}: ${JSON.stringify(regs)}`);
        const v = def.type === 'u16' ? regs[0] : def.type === 'u32' ? regs[0] * 65536 + regs[1] : wordsF32(regs[0], regs[1]);
        const expect = want[def.name];
        if (def.type === 'f32') assert.ok(Math.abs(v - expect) < 1e-5 * Math.max(1, Math.abs(expect)), `${def.name}: ${v} vs ${expect}`);
        else assert.is(v, expect, def.name);
      }
    }
    // the whole first block in one request, as an RTU polls it
    const all = await rtu.readRegisters(0, 22);
    assert.ok(Array.isArray(all) && all.length === 22);
  } finally {
    await r.close();
  }
});

test.run();
