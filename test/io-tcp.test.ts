import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ioRig, next, until } from './io-rig';

/** The TCP fallback (the sim's wire without socat; a ser2net / serial device server on site). */

test('Over TCP the board handshakes, drives outputs, reports the relay, and reconnects after a drop', async () => {
  const rig = await ioRig({ usePty: false });
  try {
    await rig.io.start();
    assert.ok(rig.io.connected);
    rig.io.setEnable('hb0', true);
    rig.io.setFanDuty('fan0', 0.5);
    await until(() => rig.plant.boards.get('hb0')!.enabled && rig.plant.fans.get('fan0')!.duty > 0.5, 'outputs applied');
    const relay = next<boolean>(rig.io, 'relay');
    rig.plant.relayActive = true;
    rig.sim.poke();
    assert.is(await relay, true);

    const fault = next(rig.io, 'fault');
    await rig.sim.faults.unplug(); // the device server drops the connection and stops listening
    await fault;
    const ready = next(rig.io, 'ready', 10_000);
    await rig.sim.faults.replug();
    await ready;
    await until(() => rig.plant.boards.get('hb0')!.enabled, 'enable restored');
    assert.ok(rig.io.relayActive);
  } finally {
    await rig.close();
  }
});

test('An active-high relay input is never written 1 by enable writes on its port', async () => {
  // StandardFirmata 2.5 turns on the pull-up of an INPUT pin written 1; the sim models it, and
  // an open active-high contact with its pull-up on would read "active" for good
  const rig = await ioRig({ usePty: false, relayActive: 'high' });
  try {
    const relay: boolean[] = [];
    rig.io.on('relay', (a: boolean) => relay.push(a));
    await rig.io.start();
    rig.plant.relayActive = true;
    rig.sim.poke();
    await until(() => relay.length === 1, 'relay active');
    rig.received.length = 0;
    rig.io.setEnable('hb0', true); // pin 2, same port as the relay on 7, which reads 1
    await until(() => rig.received.length === 1, 'one write');
    assert.is(rig.received[0].hex, '900400');
    rig.plant.relayActive = false;
    rig.sim.poke();
    await until(() => relay.length === 2, 'relay released');
    assert.equal(relay, [true, false]);
  } finally {
    await rig.close();
  }
});

test.run();
