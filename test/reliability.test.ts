import fc from 'fast-check';
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { validateConfig } from '../agent/config';
import { startAgent, type RunningAgent } from '../agent/main';
import type { SimSite } from '../sim/site';
import { AGENT_ID, allOnAtSim, liveConfig, startLiveSite, until, type Telemetry } from './fixtures/fuzz/live';

/**
 * Garbage on every live link while the site runs: the real agent against the simulator over
 * real ptys (or TCP), Modbus TCP and a WebSocket controller. For each link in turn the fault is
 * switched on at the sim, and the agent must stay up, report it, fail safe as configured, and
 * come back by itself once the link heals.
 */
const t = suite('live links under garbage');
let site: SimSite;
let dir = '';
let agent: RunningAgent | undefined;
const crashes: unknown[] = [];
const onCrash = (e: unknown) => crashes.push(e);

const rec = () => site.controller!.agents.get(AGENT_ID)!;
const latest = () => site.controller!.latest(AGENT_ID) as Telemetry | undefined;
const eventsAfter = (n: number) => rec().events.slice(n);
const healthy = () => {
  const f = latest();
  return f && f.state === 'running' && f.boards.every((b) => b.on && !b.fault) && allOnAtSim(site) ? f : undefined;
};

t.before(async () => {
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);
  ({ site, dir } = await startLiveSite('hashflex-reliability-'));
  agent = await startAgent(validateConfig(liveConfig(site), path.join(dir, 'agent.yaml')));
  await until(healthy, 'the site running with every board on');
});

t.after(async () => {
  await agent?.stop();
  await site?.close();
  fs.rmSync(dir, { recursive: true, force: true });
  process.off('uncaughtException', onCrash);
  process.off('unhandledRejection', onCrash);
});

t('Noise before every hashboard reply is resynced and counted while the board keeps hashing', async () => {
  const before = latest()!.links.hb0.resyncs;
  site.chains[0].faults.garbage = true;
  await until(() => latest()!.links.hb0.resyncs > before + 2 && latest(), 'resyncs counted on hb0');
  site.chains[0].faults.garbage = false;
  assert.ok(healthy(), `site still healthy: ${JSON.stringify(latest()?.boards)}`);
});

t('A chain whose every reply fails its CRC is faulted alone and recovers when the line is clean', async () => {
  site.chains[1].faults.badCrc = true;
  try {
    const f = await until(() => latest()?.boards.find((b) => b.id === 'hb1' && b.fault) && latest(), 'hb1 reported faulted');
    assert.ok(f.links.hb1.crcErrors > 0);
    assert.ok(f.boards.find((b) => b.id === 'hb0')!.on, 'the other board keeps running');
  } finally {
    site.chains[1].faults.badCrc = false;
  }
  await until(healthy, 'hb1 back on, its fault cleared');
});

t('Noise from the I/O board trips the site (io-lost), and a clean line releases it', async () => {
  const n = rec().events.length;
  site.firmata.faults.garbage = true;
  try {
    // noise can also look like a relay contact change first: a trip either way (the safe side)
    await until(() => eventsAfter(n).find((e) => e.kind === 'trip' && e.source === 'io-lost'), 'an io-lost trip');
    assert.equal(eventsAfter(n).filter((e) => e.kind === 'trip' && e.source !== 'io-lost' && e.source !== 'relay'), []);
    assert.ok(eventsAfter(n).some((e) => e.kind === 'fault' && e.source === 'io'), 'the fault is reported');
    await until(() => latest()?.state === 'tripped' && latest()!.boards.every((b) => !b.on), 'boards reported off');
    assert.ok(site.boardIds.every((id) => !site.plant.boards.get(id)!.active), 'every chain stopped over its serial link');
  } finally {
    site.firmata.faults.garbage = false;
  }
  await until(() => eventsAfter(n).find((e) => e.kind === 'recover' && e.source === 'io'), 'recover once the I/O board is back');
  await until(() => eventsAfter(n).find((e) => e.kind === 'release' && e.source === 'io-lost'), 'the io-lost trip released');
  await until(healthy, 'every board back on');
});

for (const fault of ['crc', 'short'] as const) {
  t(`A meter answering with ${fault === 'crc' ? 'bad CRCs' : 'short replies'} trips the site (meter-lost) until its replies are good again`, async () => {
    const n = rec().events.length;
    site.meter.faults[fault] = true;
    try {
      const trip = await until(() => eventsAfter(n).find((e) => e.kind === 'trip'), 'a trip');
      assert.is(trip.source, 'meter-lost');
      await until(() => allOnAtSim(site) ? undefined : true, 'boards off at the sim');
      const m = latest()!.links.meter;
      // over Modbus TCP the sim answers a CRC fault as a gateway would: exception 0x0B
      assert.ok(fault === 'crc' ? m.exceptions > 0 : m.shortReplies > 0, `meter counters ${JSON.stringify(m)}`);
    } finally {
      site.meter.heal();
    }
    await until(() => eventsAfter(n).find((e) => e.kind === 'release'), 'release once the meter is back');
    await until(healthy, 'every board back on');
  });
}

t('Junk from the controller is refused (ack ok:false where it has an id) and never acted on', async () => {
  const n = rec().events.length;
  const acks = rec().acks.length;
  const hellos = rec().hellos;
  const junk = fc.sample(fc.oneof(
    fc.string({ unit: 'binary', maxLength: 100 }),
    fc.json(),
    fc.record({ type: fc.constant('command'), id: fc.string({ minLength: 1, maxLength: 8 }), action: fc.constantFrom('curtail ', 'CURTAIL', 'reboot', 'set_power'), kw: fc.double() }).map((o) => JSON.stringify(o)),
  ), { seed: 11, numRuns: 15 });
  for (const text of junk) site.controller!.sendRaw(AGENT_ID, text);
  site.controller!.sendRaw(AGENT_ID, Buffer.from([0xff, 0xfe, 0x00, 0xc3, 0x28]));
  site.controller!.sendRaw(AGENT_ID, '{"type":"command","id":"x1","action":"set_power","kw":-5,"ttl_s":10}');
  const ack = await until(() => rec().acks.slice(acks).find((a) => a.id === 'x1'), 'ack for the out-of-range set_power');
  assert.is(ack.ok, false);
  const accepted = rec().acks.slice(acks).filter((a) => a.ok !== false);
  assert.equal(accepted, [], 'no junk frame was accepted');
  assert.equal(eventsAfter(n).filter((e) => e.kind === 'trip'), [], 'no trip from junk');
  assert.is(rec().hellos, hellos, 'the link stayed up');
  assert.ok(healthy(), `still running: ${JSON.stringify(latest())}`);
});

t('The agent stays up through every fault: no uncaught exception or rejection', () => {
  assert.equal(crashes.map(String), []);
});

t.run();
