import http from 'node:http';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VirtualClock } from '../agent/clock';
import { validateConfig } from '../agent/config';
import { runDoctor } from '../agent/doctor';
import { startAgent } from '../agent/main';
import { simBoard } from '../sim/hashboard';
import { Plant } from '../sim/plant';
import { SimVtn } from '../sim/vtn';
import { VirtualBoard, VirtualIo, VirtualMeter } from '../sim/virtual';
import { tmpdir } from './harness/cli';

/**
 * The composition root with an `openadr:` section (DESIGN §9): the agent enrols at the simulated
 * VTN over real loopback HTTP and obeys its events through the control core (trip source
 * `openadr`, program limits), shows them in telemetry and /metrics, and the doctor checks the
 * VTN. Hardware and time are virtual; the VTN's HTTP is real. Addresses in 127.28.200.0/24.
 */
const CLIENT = { id: 'ven-north', secret: 'north-secret-123' };
const NOW = '0000-01-01T00:00:00Z';

function get(url: string, token: string): Promise<string> {
  return new Promise((resolve, reject) => http.get(url, { headers: { authorization: `Bearer ${token}` } }, (res) => {
    let b = '';
    res.on('data', (d) => { b += d; });
    res.on('end', () => resolve(b));
  }).on('error', reject));
}

/** advance virtual time in small steps, giving real I/O (the VEN's polls) its turn, until cond holds */
async function until(clock: VirtualClock, cond: () => boolean, what: string, maxS = 60): Promise<void> {
  for (let i = 0; i < maxS * 10; i++) {
    if (cond()) return;
    clock.advance(100);
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.unreachable(`timed out (virtual ${maxS} s) waiting for ${what}`);
}

test('A site with an openadr section enrols, obeys an emergency and a SIMPLE level, shows them, and lets go when the utility deletes them', async () => {
  const dir = tmpdir('hashflex-openadr-agent-');
  const clock = new VirtualClock();
  const vtn = new SimVtn({ host: '127.28.200.1', clients: [CLIENT], tokenTtlS: 3600 });
  await vtn.listen();
  const program = await vtn.createProgram({ programName: 'ers-30' });
  const plant = new Plant();
  const ids = ['hb0', 'hb1', 'hb2', 'hb3'];
  for (const id of ids) { const b = simBoard(id, 'bm1366', 110); b.enabled = false; plant.boards.set(id, b); }
  const config = validateConfig({
    agent: { id: 'openadr-agent' },
    meter: { tcp: '127.0.0.1:1', poll_ms: 1000 },
    boards: ids.map((id, i) => ({ id, serial: { tcp: '127.0.0.1:1' }, chips: 110, enable_pin: 22 + i })),
    io: { tcp: '127.0.0.1:1' },
    control: { mode: 'setpoint', setpoint_kw: 4, max_kw: 4, stagger_ms: 100 },
    local: { listen: '127.0.0.1:8080', token: 'local-token-123456' },
    openadr: { vtn_url: vtn.url, client_id: CLIENT.id, client_secret: CLIENT.secret, ven_name: 'north-field', programs: ['ers-30'], poll_s: 5 },
    ledger: { enabled: false },
    storage: { dir },
  });
  config.local!.listen = '127.0.0.1:0';
  const agent = await startAgent(config, {
    clock,
    hardware: { meter: new VirtualMeter(plant, clock, 1000, 5000), boards: ids.map((id) => new VirtualBoard(plant.boards.get(id)!, 'bm1366', clock)), io: new VirtualIo(plant, clock, 0) },
  });
  const c = agent.site.controller;
  try {
    assert.ok(vtn.vens.some((v) => v.venName === 'north-field'), 'the VEN object is created at the VTN');
    await until(clock, () => c.target > 3.5, 'the setpoint target');

    // the grid emergency: the site curtails with trip source openadr
    const alert = await vtn.createEvent({ programID: program.id, eventName: 'emergency', intervalPeriod: { start: NOW, duration: 'P9999Y' }, intervals: [{ id: 0, payloads: [{ type: 'ALERT_GRID_EMERGENCY', values: ['grid emergency'] }] }] });
    await until(clock, () => c.tripSources.includes('openadr'), 'the openadr curtailment');
    assert.is(c.state, 'curtailed');
    assert.ok([...plant.boards.values()].every((b) => !b.enabled), 'every board off');
    const t = agent.site.telemetry();
    assert.is(t.openadr?.connected, true);
    assert.equal(t.openadr?.active.map((a) => a.type), ['ALERT_GRID_EMERGENCY']);
    const metrics = await get(`http://127.0.0.1:${agent.local!.port}/metrics`, 'local-token-123456');
    assert.match(metrics, /^hashflex_openadr_connected 1$/m);
    assert.match(metrics, /^hashflex_openadr_curtail 1$/m);
    assert.match(metrics, /^hashflex_openadr_events_active\{type="ALERT_GRID_EMERGENCY"\} 1$/m);

    // the utility deletes it: the curtailment ends; a SIMPLE level 1 then halves the miners (simple_levels default 1: 0.5)
    await vtn.deleteEvent(alert.id);
    await until(clock, () => !c.tripSources.includes('openadr'), 'the end of the curtailment');
    await vtn.createEvent({ programID: program.id, eventName: 'moderate', intervalPeriod: { start: NOW, duration: 'PT1H' }, intervals: [{ id: 0, payloads: [{ type: 'SIMPLE', values: [1] }] }] });
    await until(clock, () => c.programLimits.maxKw === 2, 'the SIMPLE cap');
    await until(clock, () => c.target <= 2 + 1e-9, 'the target under the cap');
    assert.equal(agent.site.telemetry().openadr?.active.map((a) => [a.type, a.value]), [['SIMPLE', 1]]);
  } finally {
    await agent.stop();
    await vtn.close();
  }
});

test('hashflex doctor checks the VTN: a token, the VEN object and the programs readable; a wrong secret fails with a hint', async () => {
  const dir = tmpdir('hashflex-openadr-doctor-');
  const vtn = new SimVtn({ host: '127.28.200.2', clients: [CLIENT], tokenTtlS: 3600 });
  await vtn.listen();
  await vtn.createProgram({ programName: 'ers-30' });
  const base = { agent: { id: 'doc' }, meter: { tcp: '127.0.0.1:1' }, miners: [{ id: 'm1', host: '127.0.0.1' }], storage: { dir }, ledger: { enabled: false } };
  try {
    const section = { vtn_url: vtn.url, client_id: CLIENT.id, ven_name: 'north-field', programs: ['ers-30'] };
    const only = (r: Awaited<ReturnType<typeof runDoctor>>) => r.results.filter((x) => x.check === 'openadr');
    const good = only(await runDoctor(validateConfig({ ...base, openadr: { ...section, client_secret: CLIENT.secret } }), { minerTimeoutMs: 300 }));
    assert.ok(good.length >= 1, 'an openadr line');
    assert.ok(good.every((x) => x.status === 'pass'), good.map((x) => `${x.status} ${x.detail}`).join('\n'));
    const bad = only(await runDoctor(validateConfig({ ...base, openadr: { ...section, client_secret: 'not-the-secret' } }), { minerTimeoutMs: 300 }));
    assert.ok(bad.some((x) => x.status === 'fail' && x.hint), bad.map((x) => `${x.status} ${x.detail} | ${x.hint}`).join('\n'));
    assert.ok(!JSON.stringify(bad).includes('not-the-secret'), 'the secret is never in the report');
  } finally {
    await vtn.close();
  }
});

test.run();
