import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VirtualClock } from '../agent/clock';
import { Uplink } from '../agent/uplink/client';
import { Journal } from '../agent/uplink/journal';
import { startSimController } from '../sim/controller';
import { body, rmDir, tmpDir, until, waitFor } from './fixtures/uplink/util';

const TLS = path.join(__dirname, 'fixtures/uplink/tls');
const tls = { key: fs.readFileSync(path.join(TLS, 'server-key.pem')), cert: fs.readFileSync(path.join(TLS, 'server-cert.pem')) };

test('Over wss:// with the private CA file the uplink connects and reports', async () => {
  const ctl = await startSimController({ token: 'tls-t', tls });
  const dir = tmpDir('tls');
  const journal = Journal.open({ dir });
  const up = new Uplink({ url: ctl.url, token: 'tls-t', caFile: path.join(TLS, 'ca.pem'), agentId: 'a', version: '0.1.0', bootId: 'b', journal }, new VirtualClock());
  try {
    assert.ok(ctl.url.startsWith('wss://'));
    up.start();
    await waitFor(ctl, 'hello');
    up.telemetry(body());
    await until(() => ctl.agents.get('a')!.stored.length === 1);
  } finally {
    await up.stop();
    await ctl.close();
    journal.close();
    rmDir(dir);
  }
});

test('Without the CA file the controller certificate is refused and nothing is sent', async () => {
  const ctl = await startSimController({ token: 'tls-t', tls });
  const dir = tmpDir('tls');
  const journal = Journal.open({ dir });
  const clock = new VirtualClock();
  const up = new Uplink({ url: ctl.url, token: 'tls-t', agentId: 'a', version: '0.1.0', bootId: 'b', journal }, clock);
  try {
    up.start();
    up.telemetry(body());
    await until(() => (up.stats.lastError ?? '').length > 0);
    assert.match(up.stats.lastError!, /certificate/i);
    assert.not.ok(up.connected);
    assert.equal(ctl.agents.size, 0);
    assert.equal(journal.stats().frames, 1, 'the frame waits in the journal');
  } finally {
    await up.stop();
    await ctl.close();
    journal.close();
    rmDir(dir);
  }
});

test.run();
