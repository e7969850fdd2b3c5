import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { HostMessage } from '../sim/firmata-codec';
import { ENABLE_PINS, ioRig, next, until, type IoRig, type RigOptions } from './io-rig';

/**
 * Reconnecting to the I/O board while the grid relay contact may have changed (issue 18, "also
 * look at"). The driver used to re-apply the enable lines wanted high before it asked for the
 * relay, so a contact that closed during the outage had boards raised until its report came
 * back. Now no enable line goes high on a new connection before the contact has been read and
 * told ('relay' before 'ready'), and a board that held its outputs through a link blip (over TCP
 * there is no DTR reset) is not glitched off either.
 */
const HB0 = ENABLE_PINS[0]; // pin 2: port 0, beside the relay on pin 7

let rig: IoRig | undefined;
/** hb0's enable level in every digital message the board parsed for port 0, in order */
let hb0Writes: number[];
let events: string[];

async function start(o: RigOptions): Promise<IoRig> {
  rig = await ioRig(o);
  hb0Writes = [];
  events = [];
  rig.sim.on('message', (m: HostMessage) => {
    if (m.kind === 'digital' && m.port === HB0 >> 3) hb0Writes.push((m.mask >> (HB0 & 7)) & 1);
  });
  rig.io.on('relay', (a: boolean) => events.push(`relay ${a}`));
  rig.io.on('ready', () => events.push('ready'));
  await rig.io.start();
  return rig;
}

/** what the site does on a relay trip: every enable line low at once */
function shedOnTrip(r: IoRig): void {
  r.io.on('relay', (a: boolean) => { if (a) void r.io.shedEnables(); });
}

/** every write the driver made so far has been parsed by the board (the link keeps order) */
let duty = 0;
async function parsed(r: IoRig): Promise<void> {
  duty = duty === 0.5 ? 0.25 : 0.5;
  r.io.setFanDuty('fan0', duty);
  await until(() => Math.abs(r.plant.fans.get('fan0')!.duty - Math.round(duty * 255) / 255) < 1e-9, 'the board parsed the writes');
}

async function hb0Running(r: IoRig): Promise<void> {
  r.io.setEnable('hb0', true);
  await until(() => r.plant.boards.get('hb0')!.enabled, 'hb0 on');
}

test.after.each(async () => {
  await rig?.close();
  rig = undefined;
});

test('After the board is replugged with the contact closed meanwhile, the trip is told first and no enable line is raised', async () => {
  const r = await start({}); // a pty where socat is there: the sim's unplug resets the board either way
  shedOnTrip(r);
  await hb0Running(r);
  const lost = next(r.io, 'fault');
  await r.sim.faults.unplug(); // the board loses power: its outputs fall low
  await lost;
  r.plant.relayActive = true; // the contact closes while the agent cannot see it
  hb0Writes.length = 0;
  events.length = 0;
  const ready = next(r.io, 'ready', 10_000);
  await r.sim.faults.replug();
  await ready;
  assert.equal(events, ['relay true', 'ready'], 'the contact is known before the board is ready');
  assert.ok(r.io.relayActive);
  await parsed(r);
  assert.not.ok(hb0Writes.includes(1), `hb0 never raised (levels written: ${hb0Writes.join('')})`);
  assert.is(r.sim.pinLevel(HB0), 0);
});

test('A link blip over TCP with the contact open leaves a running board powered: the line is neither raised anew nor glitched low', async () => {
  const r = await start({ usePty: false });
  await hb0Running(r);
  const lost = next(r.io, 'fault');
  await r.wire.unplug(); // the serial server's connection drops; the board keeps running its sketch
  await lost;
  hb0Writes.length = 0;
  events.length = 0;
  const ready = next(r.io, 'ready', 10_000);
  await r.wire.plug();
  await ready;
  assert.equal(events, ['ready']);
  await parsed(r);
  assert.ok(r.plant.boards.get('hb0')!.enabled, 'still powered');
  assert.not.ok(hb0Writes.includes(0), `never written low (levels written: ${hb0Writes.join('')})`);
  assert.is(r.sim.pinLevel(HB0), 1);
});

test('A link blip over TCP with the contact closed meanwhile: the trip comes first and the running board is shed, never re-raised', async () => {
  const r = await start({ usePty: false });
  shedOnTrip(r);
  await hb0Running(r);
  const lost = next(r.io, 'fault');
  await r.wire.unplug();
  await lost;
  r.plant.relayActive = true;
  hb0Writes.length = 0;
  events.length = 0;
  const ready = next(r.io, 'ready', 10_000);
  await r.wire.plug();
  await ready;
  assert.equal(events, ['relay true', 'ready']);
  await parsed(r);
  assert.not.ok(r.plant.boards.get('hb0')!.enabled, 'hb0 shed');
  assert.equal(hb0Writes, [0], 'one write: the shed');
});

test('At start with the contact closed, start() resolves with the trip known and no line raised', async () => {
  rig = await ioRig({});
  const r = rig;
  r.plant.relayActive = true;
  const raised: number[] = [];
  r.sim.on('message', (m: HostMessage) => { if (m.kind === 'digital' && m.mask !== 0) raised.push(m.port); });
  r.io.setEnable('hb0', true); // wanted before the board is even connected
  shedOnTrip(r);
  await r.io.start();
  assert.ok(r.io.connected);
  assert.ok(r.io.relayActive, 'relayActive is read before start() resolves');
  await parsed(r);
  assert.equal(raised, [], 'nothing raised');
});

test.run();
