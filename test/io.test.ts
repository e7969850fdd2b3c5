import { test } from 'uvu';
import * as assert from 'uvu/assert';
import five from 'johnny-five';
import { VirtualClock } from '../agent/clock';
import { ioRig, next, until, type IoRig } from './io-rig';

/**
 * The driver (johnny-five over firmata.js) against the simulated StandardFirmata board on a real
 * pty (raw TCP where socat is missing). Byte strings are what the sim's parser received, hex, annotated per the Firmata protocol.
 */
let rig: IoRig;

test.before.each(async () => {
  rig = await ioRig();
});
test.after.each(async () => {
  await rig.close();
});

test('The agent completes the StandardFirmata handshake and configures every pin', async () => {
  await rig.io.start();
  assert.ok(rig.io.connected);
  await until(() => rig.received.some((r) => r.hex === 'd001'), 'relay port reporting asked for');
  const kinds = rig.received.map((r) => r.hex);
  // version request and firmware query (firmata.js), the driver's firmware query on the version
  // report, sampling interval 20 ms, capability and analog-mapping queries
  assert.equal(kinds.slice(0, 6), ['f9', 'f079f7', 'f079f7', 'f07a1400f7', 'f06bf7', 'f069f7']);
  // enable lines become outputs driven low; fans PWM; relay pin 7 a pull-up input, port 0 reported
  for (const hex of ['f40201', 'f40301', 'f40903', 'f42c03', 'f4070b', 'd001']) assert.ok(kinds.includes(hex), hex);
  // tach A0/A1 and thermistors A2/A3 reported
  for (const hex of ['c001', 'c101', 'c201', 'c301']) assert.ok(kinds.includes(hex), hex);
});

test('An enable line is written as one digital-port message with exactly its bit', async () => {
  await rig.io.start();
  await until(() => rig.received.some((r) => r.hex === 'd001'), 'port 0 reporting on');
  rig.received.length = 0;
  rig.io.setEnable('hb0', true); // pin 2 = port 0 bit 2
  rig.io.setEnable('hb1', true); // pin 3 = port 0 bit 3
  rig.io.setEnable('hb0', false);
  await until(() => rig.received.length >= 3, 'three writes');
  // 0x90|port 0, bits 0-6, bit 7. The relay input (pin 7, reading high) is NOT echoed back as 1.
  assert.equal(rig.received.map((r) => r.hex), ['900400', '900c00', '900800']);
  assert.is(rig.plant.boards.get('hb0')!.enabled, false);
  assert.is(rig.plant.boards.get('hb1')!.enabled, true);
});

test('A trip is one digital message per I/O port that holds enable lines, every enable bit low and the relay input\'s bit clear', async () => {
  await rig.close();
  rig = await ioRig({ boards: 8 }); // enable pins 2-6 and 8 on ports 0 and 1, 22-23 on port 2; relay pin 7 on port 0
  const r = rig;
  await r.io.start();
  for (let i = 0; i < 8; i++) r.io.setEnable(`hb${i}`, true);
  await until(() => [...r.plant.boards.values()].every((b) => b.enabled), 'all eight on');
  r.received.length = 0;
  await r.io.shedEnables();
  await until(() => r.received.length >= 3, 'three messages');
  assert.equal(r.received.map((m) => m.hex), ['900000', '910000', '920000']);
  assert.ok([...r.plant.boards.values()].every((b) => !b.enabled));
  // what is wanted is low too: a reconnect does not raise them again
  r.io.setEnable('hb1', true);
  await until(() => r.plant.boards.get('hb1')!.enabled, 'hb1 on');
  assert.not.ok(r.plant.boards.get('hb0')!.enabled);
});

test('shedEnables never rejects: written as the board is unplugged, and at once while it is away', async () => {
  await rig.io.start();
  rig.io.setEnable('hb0', true);
  await until(() => rig.plant.boards.get('hb0')!.enabled, 'hb0 on');
  const lost = next(rig.io, 'fault');
  const shed = rig.io.shedEnables(); // written to a board that is being unplugged
  await rig.sim.faults.unplug();
  await shed;
  await lost;
  await rig.io.shedEnables(); // not connected: at once
  assert.not.ok(rig.io.connected);
});

test('A PWM duty change is written as one analog message (extended analog above pin 15)', async () => {
  await rig.io.start();
  await until(() => rig.received.some((r) => r.hex === 'c301'), 'analog reporting on');
  rig.received.length = 0;
  rig.io.setFanDuty('fan0', 0.5); // round(0.5 * 255) = 128 = 0x00 | 0x01 << 7
  rig.io.setFanDuty('fan1', 1); // pin 44: F0 6F pin lsb msb F7, 255 = 0x7F | 0x01 << 7
  rig.io.setFanDuty('fan0', 7); // clamped to 1
  await until(() => rig.received.length >= 3, 'three writes');
  assert.equal(rig.received.map((r) => r.hex), ['e90001', 'f06f2c7f01f7', 'e97f01']);
  assert.is(rig.plant.fans.get('fan0')!.duty, 1);
  assert.is(rig.plant.fans.get('fan1')!.duty, 1);
  assert.equal(rig.io.fans().map((f) => f.duty), [1, 1]);
});

test('Fan tach and thermistor readings follow the plant', async () => {
  await rig.io.start();
  rig.plant.fans.get('fan0')!.rpm = 4000;
  rig.plant.boards.get('hb1')!.tempC = 71.5;
  await until(() => Math.abs(rig.io.fans()[0].rpm - 4000) < 10, 'rpm near 4000');
  await until(() => Math.abs(rig.io.temperatures().t1 - 71.5) < 0.5, 'hb1 thermistor near 71.5 °C');
  assert.ok(Math.abs(rig.io.temperatures().t0 - 30) < 0.5);
});

test('Closing the relay contact emits relay(true) at once, and the trip writes reach the board in order', async () => {
  await rig.io.start();
  rig.io.setEnable('hb0', true);
  rig.io.setEnable('hb1', true);
  await until(() => rig.plant.boards.get('hb1')!.enabled, 'hb1 on');
  const seen: boolean[] = [];
  rig.io.on('relay', (active: boolean) => {
    seen.push(active);
    if (active) for (const id of ['hb0', 'hb1']) rig.io.setEnable(id, false); // the trip path
  });
  rig.received.length = 0;
  rig.plant.relayActive = true;
  rig.sim.poke();
  await until(() => !rig.plant.boards.get('hb0')!.enabled && !rig.plant.boards.get('hb1')!.enabled, 'both boards off');
  assert.equal(rig.received.map((r) => r.hex), ['900800', '900000']);
  assert.ok(rig.io.relayActive);
  rig.plant.relayActive = false;
  rig.sim.poke();
  await until(() => seen.length === 2, 'release seen');
  assert.equal(seen, [true, false]);
});

test('Unplugging the board raises one fault, outputs are restored after it reconnects by itself', async () => {
  await rig.io.start();
  rig.io.setEnable('hb1', true);
  rig.io.setFanDuty('fan0', 0.25);
  await until(() => rig.plant.boards.get('hb1')!.enabled, 'hb1 on');
  const faults: Error[] = [];
  rig.io.on('fault', (e: Error) => faults.push(e));
  const fault = next(rig.io, 'fault');
  await rig.sim.faults.unplug();
  await fault;
  assert.not.ok(rig.io.connected);
  assert.is(rig.plant.boards.get('hb1')!.enabled, false); // unpowered outputs fall low
  assert.ok(Number.isNaN(rig.io.fans()[0].rpm), 'rpm unknown while disconnected');
  const ready = next(rig.io, 'ready', 10_000);
  await rig.sim.faults.replug();
  await ready;
  assert.ok(rig.io.connected);
  await until(() => rig.plant.boards.get('hb1')!.enabled, 'hb1 on again');
  assert.ok(Math.abs(rig.plant.fans.get('fan0')!.duty - 64 / 255) < 1e-9);
  assert.is(faults.length, 1);
  assert.is(rig.io.counters.reconnects, 1);
  assert.is(five.Board.cache.length, 1, 'the dead connection\'s johnny-five Board is not kept');
});

test('A board that sends garbage is a fault; the agent recovers when the line is clean again', async () => {
  await rig.io.start();
  const fault = next<Error & { code: number }>(rig.io, 'fault');
  rig.sim.faults.garbage = true;
  const err = await fault;
  assert.is(err.code, 300); // ErrorCode.FrameInvalid
  assert.ok(rig.io.counters.crcErrors > 0);
  const ready = next(rig.io, 'ready', 10_000);
  rig.sim.faults.garbage = false;
  await ready;
  assert.ok(rig.io.connected);
});

test('A silent board is pinged, then dropped as a timeout after watchdog_ms, and reconnected after the back-off', async () => {
  await rig.close();
  const clock = new VirtualClock();
  rig = await ioRig({ clock });
  await rig.io.start();
  await until(() => rig.received.some((r) => r.hex === 'd001'), 'configured');
  rig.sim.faults.silence = true;
  // a reply the sim wrote before falling silent may still be on its way; it would restart the
  // watchdog's window at whatever virtual time it lands. Let the line go quiet first.
  for (let seen = -1; seen !== rig.io.counters.frames;) {
    seen = rig.io.counters.frames;
    await new Promise((r) => setTimeout(r, 100));
  }
  const faults: (Error & { code: number; timeout: boolean })[] = [];
  rig.io.on('fault', (e) => faults.push(e));
  let pinged = false;
  rig.wire.on('data', (d: Buffer) => { if (d.includes(0xf9)) pinged = true; }); // raw, the silent sim ignores it
  clock.advance(100); // a third of watchdog_ms without a frame: ping
  assert.is(rig.io.connected, true);
  await until(() => pinged, 'version request sent as a ping');
  clock.advance(199);
  assert.is(faults.length, 0);
  clock.advance(1); // 300 ms: the watchdog gives up
  assert.is(faults.length, 1);
  assert.is(faults[0].code, 400); // ErrorCode.DeviceUnresponsive
  assert.ok(faults[0].timeout);
  assert.is(rig.io.counters.timeouts, 1);
  assert.not.ok(rig.io.connected);
  rig.sim.faults.silence = false;
  const ready = next(rig.io, 'ready', 10_000);
  clock.advance(50); // reconnect_ms.min
  await ready;
  assert.ok(rig.io.connected);
});

test('A healthy board with nothing to report is kept by pings, never dropped', async () => {
  await rig.close();
  const clock = new VirtualClock();
  rig = await ioRig({ clock, io: { fans: [], thermistors: [] } }); // relay only: no analog traffic
  const faults: Error[] = [];
  rig.io.on('fault', (e: Error) => faults.push(e));
  await rig.io.start();
  for (let i = 0; i < 10; i++) {
    const frames = rig.io.counters.frames;
    clock.advance(100); // a third of watchdog_ms: the driver asks for the version
    await until(() => rig.io.counters.frames > frames, `answer to ping ${i}`);
  }
  assert.is(faults.length, 0);
  assert.ok(rig.io.connected);
});

test('A reply that makes firmata.js throw is a fault and a reconnect, never a crash', async () => {
  await rig.io.start();
  const fault = next<Error & { code: number }>(rig.io, 'fault');
  // pin-state response for pin 127, which the board's capability reply never listed
  rig.wire.write(Uint8Array.from([0xf0, 0x6e, 0x7f, 0x01, 0x00, 0xf7]));
  assert.is((await fault).code, 300); // ErrorCode.FrameInvalid
  await next(rig.io, 'ready', 10_000);
  assert.ok(rig.io.connected);
});

test('A relay listener that throws does not drop a healthy connection', async () => {
  await rig.io.start();
  const faults: Error[] = [];
  rig.io.on('fault', (e: Error) => faults.push(e));
  const seen = next<boolean>(rig.io, 'relay');
  rig.io.on('relay', () => { throw new Error('bug in a listener'); });
  rig.plant.relayActive = true;
  rig.sim.poke();
  assert.is(await seen, true);
  rig.io.setEnable('hb0', true); // the link still works
  await until(() => rig.plant.boards.get('hb0')!.enabled, 'hb0 on');
  assert.ok(rig.io.connected);
  assert.is(faults.length, 0);
});

// pins the board cannot use are pin faults, not a lost board: test/io-pins.test.ts

test('A board absent at start is a fault; start() still resolves, and the board is picked up when it appears', async () => {
  await rig.sim.faults.unplug();
  const faults: Error[] = [];
  rig.io.on('fault', (e: Error) => faults.push(e));
  await rig.io.start();
  assert.not.ok(rig.io.connected);
  assert.is(faults.length, 1);
  assert.ok(rig.io.lastError);
  rig.io.setEnable('hb0', true); // remembered, applied on connect
  const ready = next(rig.io, 'ready', 10_000);
  await rig.sim.faults.replug();
  await ready;
  await until(() => rig.plant.boards.get('hb0')!.enabled, 'hb0 on once connected');
  assert.is(faults.length, 1);
});

test.run();
