import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { PinFault } from '../agent/hardware';
import { ioRig, next, until, type IoRig, type RigOptions } from './io-rig';

/**
 * Pins the I/O board cannot use (issue 18 item 6). A wrong pin in the config is a fault of that
 * one function, told as 'pin-fault' (function and id) after every 'ready'; it is never a
 * 'fault', which means the link to the board is lost and trips the site (io-lost). The rest of
 * the board keeps working: above all the enable lines and the relay contact.
 */
let rig: IoRig | undefined;
let faults: Error[];
let pinFaults: PinFault[];

async function start(o: RigOptions): Promise<IoRig> {
  rig = await ioRig(o);
  faults = [];
  pinFaults = [];
  rig.io.on('fault', (e: Error) => faults.push(e));
  rig.io.on('pin-fault', (f: PinFault) => pinFaults.push(f));
  await rig.io.start();
  return rig;
}

test.after.each(async () => {
  await rig?.close();
  rig = undefined;
});

test('A fan PWM pin the board cannot drive is a pin fault of that fan; the board stays up and enable lines, relay and the other fan work', async () => {
  // pin 14 of a Mega has no PWM
  const r = await start({ io: { fans: [{ id: 'fan0', pwm_pin: 9, tach_pin: 'A0' }, { id: 'bad', pwm_pin: 14, tach_pin: 'A1' }] } });
  assert.ok(r.io.connected);
  assert.equal(faults, [], 'no fault: the link is fine');
  assert.is(pinFaults.length, 1);
  assert.is(pinFaults[0].function, 'fan');
  assert.is(pinFaults[0].id, 'bad');
  assert.match(pinFaults[0].error, /pin 14/);
  assert.match(r.io.lastError?.message ?? '', /pin 14/, 'doctor reads it from lastError');
  r.io.setEnable('hb1', true);
  r.io.setFanDuty('fan0', 1);
  await until(() => r.plant.boards.get('hb1')!.enabled && r.plant.fans.get('fan0')!.duty === 1, 'enable line and the good fan work');
  const relay = next<boolean>(r.io, 'relay');
  r.plant.relayActive = true;
  r.sim.poke();
  assert.is(await relay, true, 'the relay contact still trips');
  await r.io.shedEnables();
  await until(() => !r.plant.boards.get('hb1')!.enabled, 'shed');
  assert.equal(faults, []);
});

test('A fan on a pin the board does not have at all is a pin fault; setting its duty writes nothing and keeps the link', async () => {
  // a Mega has 70 pins: firmata.js has no record of pin 80 and would throw on a write to it
  const r = await start({ io: { fans: [{ id: 'fan0', pwm_pin: 9, tach_pin: 'A0' }, { id: 'gone', pwm_pin: 80, tach_pin: 'A1' }] } });
  assert.equal(pinFaults.map((f) => [f.function, f.id]), [['fan', 'gone']]);
  r.io.setFanDuty('gone', 1); // the site's fan curve does this every second
  r.io.setFanDuty('fan0', 1);
  await until(() => r.plant.fans.get('fan0')!.duty === 1, 'the good fan');
  assert.ok(r.io.connected);
  assert.equal(faults, []);
  assert.is(r.io.fans().find((f) => f.id === 'gone')!.duty, 1, 'the duty wanted is kept (for a board that has the pin)');
});

test('A thermistor on a channel the board lacks is a pin fault and reads unknown (NaN); the other reads', async () => {
  // a board with A0-A2 only: t0 is on A2, t1 on A3
  const r = await start({ sim: { analogInputs: 3 } });
  assert.ok(r.io.connected);
  assert.equal(faults, []);
  assert.equal(pinFaults.map((f) => [f.function, f.id]), [['thermistor', 't1']]);
  await until(() => Math.abs(r.io.temperatures().t0 - 30) < 0.5, 't0 reads its board');
  assert.ok(Number.isNaN(r.io.temperatures().t1), 't1 unknown, not a stale or made-up value');
});

test('An enable pin the board does not have is a pin fault of that board; the other board and the relay work', async () => {
  // pin 1 carries the serial link: StandardFirmata lists no mode for it
  const r = await start({ io: { enable: { hb0: 2, hb1: 1 } } });
  assert.ok(r.io.connected);
  assert.equal(faults, []);
  assert.equal(pinFaults.map((f) => [f.function, f.id]), [['enable', 'hb1']]);
  r.io.setEnable('hb0', true);
  await until(() => r.plant.boards.get('hb0')!.enabled, 'hb0 on');
  const relay = next<boolean>(r.io, 'relay');
  r.plant.relayActive = true;
  r.sim.poke();
  assert.is(await relay, true);
  await r.io.shedEnables(); // resolves: the unusable line is written low with its port, harmless
  await until(() => !r.plant.boards.get('hb0')!.enabled, 'hb0 off');
});

test('A relay input the board cannot read is a pin fault of the relay; the board is ready without waiting for its report', async () => {
  const r = await start({ io: { relay: { pin: 1, active: 'low' } } });
  assert.ok(r.io.connected, 'ready: there is no relay report to wait for');
  assert.equal(faults, []);
  assert.equal(pinFaults.map((f) => [f.function, f.id]), [['relay', 'relay']]);
  r.io.setEnable('hb0', true);
  await until(() => r.plant.boards.get('hb0')!.enabled, 'hb0 on');
});

test('Pin faults are told again after every reconnect, each right after its ready and before the next microtask', async () => {
  const r = await start({ io: { fans: [{ id: 'fan0', pwm_pin: 9, tach_pin: 'A0' }, { id: 'bad', pwm_pin: 14, tach_pin: 'A1' }] } });
  const order: string[] = [];
  r.io.on('ready', () => {
    order.push('ready');
    queueMicrotask(() => order.push('microtask'));
  });
  r.io.on('pin-fault', (f: PinFault) => order.push(`pin-fault ${f.function}:${f.id}`));
  const lost = next(r.io, 'fault');
  await r.sim.faults.unplug();
  await lost;
  const ready = next(r.io, 'ready', 10_000);
  await r.sim.faults.replug();
  await ready;
  await until(() => order.includes('microtask'), 'the microtask ran');
  assert.equal(order, ['ready', 'pin-fault fan:bad', 'microtask']);
  assert.is(faults.length, 1, 'the unplug, and only it, was a fault');
  assert.is(pinFaults.length, 2);
});

test.run();
