import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { needs } from './harness/peers';
import { ackRig, loadCores, type AckCycle } from './io-ack-rig';

/**
 * A `curtail` is acked only once every enable line has been written low (issue 17 item 3): the
 * real agent on a kernel pty to a StandardFirmata board in another process (no socat between),
 * which is the site controller too and reads the pty the moment the ack arrives (test/io-ack-rig,
 * sim/firmata-pty). Under a busy loop on every core, with two of four boards failing their
 * bring-up and retrying, over the uplink and through Site.curtail(). Timings are the bench's
 * (scripts/bench-io-ack.ts); here only the order counts.
 */
const CYCLES = Number(process.env.HASHFLEX_IO_ACK_CYCLES ?? 20);

const ptyTest = needs('python3'); // python3's os.openpty() makes the pty

ptyTest(`Under load, with two boards failing their bring-up, no curtail ack comes before every enable line is low (${CYCLES} curtails)`, async () => {
  const load = loadCores(60_000 + CYCLES * 2000);
  const rig = await ackRig();
  const out: AckCycle[] = [];
  try {
    for (let i = 0; i < CYCLES; i++) out.push(await rig.cycle(i % 2 ? 'site' : 'uplink'));
  } finally {
    load.stop();
    await rig.close();
  }
  const late = out.filter((c) => !c.ok || !c.allLow || c.unwritten.length > 0)
    .map((c) => `${c.via} ${c.id}: ok ${c.ok}, high at the ack: [${c.high.join(',')}], ports not written: [${c.unwritten.join(',')}]`);
  assert.equal(late, [], 'every enable line low when the ack (or Site.curtail()) came');
  assert.ok(out.some((c) => c.via === 'uplink') && out.some((c) => c.via === 'site'));
});

test.run();
