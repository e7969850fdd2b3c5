import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CMD_INACTIVE, GROUP_ALL, TYPE_CMD } from '../drivers/hashboard/codec';
import { chainRig, until } from './hashboard-rig';

test('over the raw-TCP fallback a board starts, ramps, trips and reconnects as over a pty', async () => {
  const r = await chainRig({ chips: 16, usePty: false, driver: { rampStepMhz: 100, rampStepMs: 100, retryMs: 500 } });
  try {
    assert.ok('tcp' in r.wire.endpoint);
    await r.hb.start();
    assert.is(r.hb.status().chipsFound, 16);
    const p = r.hb.setFrequency(400);
    await r.advance(() => r.hb.status().mhz === 400, 100, 'at 400');
    await p;
    await until(() => r.board.active && r.board.mhz === 400, 'sim at 400');
    const from = r.frames.length;
    await r.hb.trip();
    await until(() => r.frames.length >= from + 2, 'trip frames');
    assert.is(r.frames[from].header, TYPE_CMD | GROUP_ALL | CMD_INACTIVE);
    assert.equal(r.pllWrites(from), [50]);
    assert.not.ok(r.board.active);
    await r.wire.unplug();
    await until(() => /^disconnected/.test(r.hb.status().fault ?? ''), 'disconnected');
    await r.wire.plug(); // same port: TcpWire re-listens where it was
    await r.advance(() => r.hb.status().fault === undefined, 100, 'reconnected');
    assert.is(r.hb.status().counters.reconnects, 1);
  } finally {
    await r.close();
  }
});

test.run();
