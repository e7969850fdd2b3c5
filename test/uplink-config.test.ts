import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VirtualClock } from '../agent/clock';
import { ErrorCode, isHashflexError } from '../agent/errors';
import { openUplink, readToken } from '../agent/uplink';
import { startSimController } from '../sim/controller';
import { body, rmDir, tmpDir, until, waitFor } from './fixtures/uplink/util';

test('An uplink built from config reads its token file, journals under storage.dir and reports', async () => {
  const dir = tmpDir('cfg');
  const ctl = await startSimController({ token: 'from-file' });
  fs.writeFileSync(path.join(dir, 'token'), 'from-file\n');
  const site = openUplink({
    agentId: 'board-17', version: '0.1.0',
    uplink: { url: ctl.url, token_file: path.join(dir, 'token') },
    storage: { dir: path.join(dir, 'data'), journal_max_mb: 1 },
  }, new VirtualClock());
  try {
    site.uplink.start();
    const [hello] = await waitFor<[{ boot: string }]>(ctl, 'hello');
    assert.match(hello.boot, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    site.uplink.telemetry(body());
    await until(() => ctl.agents.get('board-17')!.stored.length === 1);
    assert.ok(fs.existsSync(path.join(dir, 'data', 'journal.db')));
  } finally {
    await site.close();
    assert.not.ok(site.uplink.connected);
    await ctl.close();
    rmDir(dir);
  }
});

test('Missing token and CA files are config errors that name their key', () => {
  const isCfg = (key: string) => (e: unknown) => isHashflexError(e, ErrorCode.ConfigInvalid) && e.message.startsWith(key);
  assert.throws(() => readToken({ token_file: '/nonexistent/token' }, 'local'), isCfg('local.token_file'));
  assert.is(readToken({ token: 'inline-token' }, 'uplink'), 'inline-token');
  assert.throws(() => readToken({ token: 'inline-token', token_file: '/nonexistent' }, 'uplink'), isCfg('uplink.token: give token or token_file, not both'));
  assert.is(readToken({}, 'uplink'), undefined);
  const dir = tmpDir('cfg');
  try {
    assert.throws(() => openUplink({
      agentId: 'a', version: '0.1.0', uplink: { url: 'wss://127.0.0.1:1/', ca_file: '/nonexistent/ca.pem' }, storage: { dir },
    }), isCfg('uplink.ca_file'));
  } finally {
    rmDir(dir);
  }
});

test.run();
