import fs from 'node:fs';
import http from 'node:http';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VirtualClock } from '../agent/clock';
import { validateConfig } from '../agent/config';
import { STATE_CODE } from '../agent/grid/scada/map';
import { startAgent } from '../agent/main';
import { simBoard } from '../sim/hashboard';
import { Plant } from '../sim/plant';
import { SimRtu } from '../sim/rtu';
import { VirtualBoard, VirtualIo, VirtualMeter } from '../sim/virtual';
import { tmpdir } from './harness/cli';

/** The composition root: `scada:` in the config starts the server after the site, /metrics counts it, stop closes it first. */
function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => http.get(url, (res) => { let b = ''; res.on('data', (d) => { b += d; }); res.on('end', () => resolve(b)); }).on('error', reject));
}

test('An agent with a scada section serves the RTU, counts its requests and writes in /metrics, and closes the port when it stops', async () => {
  const dir = tmpdir('hashflex-scada-agent-');
  const clock = new VirtualClock();
  const plant = new Plant();
  const ids = ['hb0', 'hb1'];
  for (const id of ids) { const b = simBoard(id, 'bm1366', 110); b.enabled = false; plant.boards.set(id, b); }
  plant.generationKw = 4;
  const config = validateConfig({
    agent: { id: 'scada-agent' },
    meter: { tcp: '127.0.0.1:1', poll_ms: 1000 },
    boards: ids.map((id, i) => ({ id, serial: { tcp: '127.0.0.1:1' }, chips: 110, enable_pin: 22 + i })),
    io: { tcp: '127.0.0.1:1' },
    control: { mode: 'setpoint', setpoint_kw: 2 },
    local: { listen: '127.0.0.1:8080' },
    scada: { listen: '127.0.0.1:1502' },
    ledger: { enabled: false },
    storage: { dir },
  });
  // free ports for this run (the validated config insists on real ones)
  config.local!.listen = '127.0.0.1:0';
  config.scada!.listen = '127.0.0.1:0';
  const agent = await startAgent(config, {
    clock,
    hardware: { meter: new VirtualMeter(plant, clock, 1000, 5000), boards: ids.map((id) => new VirtualBoard(plant.boards.get(id)!, 'bm1366', clock)), io: new VirtualIo(plant, clock, 0) },
  });
  let stopped = false;
  try {
    const port = agent.scada!.port!;
    const rtu = await SimRtu.connect('127.0.0.1', port);
    assert.equal(await rtu.readRegisters(0, 2), [1, STATE_CODE[agent.site.controller.state]]);
    assert.is((await rtu.writeCoil(0, true)).exception, undefined);
    assert.equal(agent.site.controller.tripSources, ['scada']);
    await rtu.close();
    const metrics = await get(`http://127.0.0.1:${agent.local!.port}/metrics`);
    assert.match(metrics, /^hashflex_scada_requests_total 2$/m);
    assert.match(metrics, /^hashflex_scada_writes_total\{what="curtail"\} 1$/m);
    assert.match(metrics, /^hashflex_trips_total\{source="scada"\} 1$/m);
    await agent.stop();
    stopped = true;
    const refused = await SimRtu.connect('127.0.0.1', port).then((r) => r.close().then(() => false), () => true);
    assert.ok(refused, 'the SCADA port is closed once the agent has stopped');
  } finally {
    if (!stopped) await agent.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
