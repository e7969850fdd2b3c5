import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VirtualClock } from '../agent/clock';
import { createMiner, identifyMiner } from '../drivers/miner';
import { identify as antminerIdentify } from '../drivers/miner/antminer';
import type { AutoMiner } from '../drivers/miner/auto';
import { identify as avalonIdentify } from '../drivers/miner/avalon';
import { probeHost } from '../drivers/miner/probe';
import { identify as vnishIdentify } from '../drivers/miner/vnish';
import { identify as whatsminerIdentify } from '../drivers/miner/whatsminer';
import { SimAntminer } from '../sim/miners/antminer';
import { AvalonSim } from '../sim/miners/avalon';
import { SimVnish, vnishSettings } from '../sim/miners/vnish';
import { startSimWhatsminer } from '../sim/miners/whatsminer';

/**
 * Telling VNish apart over real loopback TCP and HTTP (127.26.4.x): discovery's probe (4028
 * `version` / `devdetails`, `GET /`) of the simulated firmware, VNish's identify() asked before the
 * stock families, the stock families' identify() leaving VNish's evidence alone, VNish's leaving
 * theirs alone, and `driver: auto` handing a VNish miner to this driver.
 */
let next = 1;
const host = () => `127.26.4.${next++}`;
const probe = (h: string) => probeHost(h, { identify: identifyMiner, timeoutMs: 1000 });

test('A probe of a VNish miner finds its cgminer-compatible API and web app, and the registry names it VNish with model and firmware', async () => {
  const sim = await new SimVnish({ host: host() }).start();
  try {
    const r = await probe(sim.host);
    assert.is(r.api, 'json');
    assert.is(r.web, 'http');
    assert.match(JSON.stringify(r.evidence.version), /Antminer S19 \(Vnish 1\.2\.6\)/);
    assert.equal(r.identity, { make: 'Bitmain', model: 'S19', firmware: 'VNish 1.2.6', driver: 'vnish' });
    assert.equal(vnishIdentify(r.evidence), r.identity);
    // the stock families leave it alone, though the reply says Antminer
    assert.is(antminerIdentify(r.evidence), undefined);
    assert.is(whatsminerIdentify(r.evidence), undefined);
    assert.is(avalonIdentify(r.evidence), undefined);
    // probing is reads only: nothing reached the REST API
    assert.equal(sim.lines(), ['GET / 200']);
  } finally {
    await sim.close();
  }
});

test('With its 4028 API off, the web page alone identifies a VNish build, AnthillOS or Vnish, and stock Antminer\'s rule does not claim it', async () => {
  for (const brand of ['AnthillOS', 'Vnish'] as const) {
    // the cgminer API on a port the probe does not ask
    const sim = await new SimVnish({ host: host(), brand, ports: { api: 0 } }).start();
    try {
      const r = await probe(sim.host);
      assert.is(r.api, 'refused');
      assert.equal(r.identity, { make: 'Bitmain', model: 'Antminer', firmware: brand === 'AnthillOS' ? 'AnthillOS' : 'VNish', driver: 'vnish' });
      assert.is(antminerIdentify(r.evidence), undefined, brand);
    } finally {
      await sim.close();
    }
  }
});

test('VNish\'s rule claims none of the stock families\' simulators, and they are still identified as their own with it asked first', async () => {
  const am = await new SimAntminer({ host: host() }).start();
  const wm = await startSimWhatsminer({ id: 'wm', host: host() });
  const av = await new AvalonSim({ host: host() }).start();
  try {
    for (const [h, family] of [[am.host, 'antminer'], [wm.o.host, 'whatsminer'], [av.host, 'avalon']] as const) {
      const r = await probe(h);
      assert.is(vnishIdentify(r.evidence), undefined, family);
      assert.is(r.identity?.driver, family);
    }
  } finally {
    await Promise.all([am.close(), wm.close(), av.close()]);
  }
});

test('Evidence naming other firmware beside VNish words is not claimed; a 401 page is not VNish', () => {
  const version = (type: string) => ({ STATUS: [{ STATUS: 'S' }], VERSION: [{ Type: type }] });
  assert.is(vnishIdentify({ version: version('Antminer S19 (Vnish 1.2.6) BOSminer') }), undefined);
  assert.is(vnishIdentify({ version: version('Antminer S19') }), undefined, 'stock words only');
  assert.is(vnishIdentify({ devdetails: { DEVDETAILS: [{ Model: 'Antminer S19j Pro (Vnish 1.2.0-rc5)' }] } })?.firmware, 'VNish 1.2.0-rc5');
  assert.is(vnishIdentify({ web: { status: 401, headers: {}, body: 'Vnish' } }), undefined);
  assert.is(vnishIdentify({ web: { status: 200, headers: {}, body: '<title>Braiins OS</title> vs Vnish' } }), undefined);
  assert.is(vnishIdentify({ web: { status: 200, headers: {}, body: '<title>Miner</title>' } }), undefined);
  assert.is(vnishIdentify({}), undefined);
});

test('The stock Antminer driver pointed at a VNish miner refuses it, as this driver refuses a stock one', async () => {
  const sim = await new SimVnish({ host: host() }).start();
  const m = createMiner({ id: 'am-on-vn', host: sim.host, driver: 'antminer', ports: {}, pollMs: 3_600_000, timeoutMs: 1000 }, new VirtualClock());
  try {
    await m.start();
    assert.match(m.status().fault ?? '', /not stock Antminer firmware/);
    await m.stop().then(() => assert.unreachable('stop sent'), () => {});
    assert.is(sim.machine.state, 'hashing');
    assert.not.ok(sim.requests.some((x) => x.method === 'POST'), sim.lines().join(', '));
  } finally {
    await m.close();
    await sim.close();
  }
});

test('vnishSettings gives a stand-in the driver\'s own scale over the sim\'s presets', () => {
  const s = vnishSettings();
  assert.equal([s.unit, s.min, s.max, s.step, s.kwAt(2619), s.kwAt(0)], ['watts', 1900, 3250, 270, 2.35, 0.02]);
});

test('driver: auto identifies a VNish miner, hands every call to the VNish driver, and its stop reaches the firmware', async () => {
  const sim = await new SimVnish({ host: host() }).start();
  const m = createMiner({ id: 'auto-vn', host: sim.host, driver: 'auto', ports: {}, pollMs: 3_600_000, timeoutMs: 1000 }, new VirtualClock());
  try {
    await m.start();
    assert.is(m.driver, 'vnish');
    assert.is((m as AutoMiner).identity?.firmware, 'VNish 1.2.6');
    assert.is(m.settings.unit, 'watts');
    assert.is(m.settings.max, 3250);
    const st = m.status();
    assert.is(st.fault, undefined);
    assert.is(st.state, 'hashing');
    await m.stop();
    assert.is(sim.machine.state, 'stopping');
  } finally {
    await m.close();
    await sim.close();
  }
});

test.run();
