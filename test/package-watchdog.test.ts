import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { VirtualClock } from '../agent/clock';
import { logger } from '../agent/log';
import { startWatchdog } from '../agent/watchdog';
import { tmpdir, until } from './harness/cli';
import { needs } from './harness/peers';

/** The systemd notifications the agent sends under `Type=notify` + `WatchdogSec=` (agent/watchdog.ts). */
const t = suite('systemd watchdog');
const log = logger('test');

const settle = () => new Promise((r) => setImmediate(r));

async function fake(env: NodeJS.ProcessEnv, healthy?: () => boolean) {
  const clock = new VirtualClock();
  const sent: string[] = [];
  const wd = startWatchdog(log, { env, clock, healthy, send: async (m) => { sent.push(m.split('\n')[0]); } });
  await settle(); // READY=1 delivered
  return { clock, sent, wd };
}

t('without NOTIFY_SOCKET nothing is sent and stop is harmless', async () => {
  const { clock, sent, wd } = await fake({});
  clock.advance(60_000);
  await wd.stop();
  assert.equal(sent, []);
  assert.is(wd.intervalMs, 0);
});

t('READY=1 goes out at start, WATCHDOG=1 every half of WATCHDOG_USEC, STOPPING=1 at stop', async () => {
  const { clock, sent, wd } = await fake({ NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '30000000' });
  assert.is(wd.intervalMs, 15_000);
  assert.equal(sent, ['READY=1']);
  for (let i = 0; i < 4; i++) {
    clock.advance(15_000);
    await settle();
  }
  assert.equal(sent, ['READY=1', 'WATCHDOG=1', 'WATCHDOG=1', 'WATCHDOG=1', 'WATCHDOG=1']);
  await wd.stop();
  clock.advance(60_000);
  assert.equal(sent.slice(-1), ['STOPPING=1']);
  assert.is(sent.filter((m) => m === 'WATCHDOG=1').length, 4);
});

t('an unhealthy agent stops pinging, so systemd restarts it', async () => {
  let healthy = true;
  const { clock, sent, wd } = await fake({ NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '2000000' }, () => healthy);
  clock.advance(1000);
  await settle();
  healthy = false;
  clock.advance(1000);
  await settle();
  clock.advance(1000);
  await settle();
  assert.equal(sent, ['READY=1', 'WATCHDOG=1']);
  assert.is(wd.stats.skipped, 2);
  await wd.stop();
});

t('a watchdog meant for another process (WATCHDOG_PID) is not pinged', async () => {
  const { clock, sent, wd } = await fake({ NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '2000000', WATCHDOG_PID: String(process.pid + 1) });
  clock.advance(10_000);
  await wd.stop();
  assert.equal(sent, ['READY=1', 'STOPPING=1']);
});

const systemdNotify = spawnSync('sh', ['-c', 'command -v systemd-notify']).status === 0;

// socat is the receiving socket: skipped without it (harness/peers)
needs('socat', t)('through the systemd-notify binary the messages reach a unix datagram socket', async () => {
  if (!systemdNotify) return; // ships with the CI image (Debian's systemd)
  const dir = tmpdir('hashflex-notify-');
  const sock = path.join(dir, 'notify.sock');
  // socat keeps the fd systemd-notify passes for its barrier, so the test sends with --no-block
  const rx = spawn('socat', ['-u', `UNIX-RECV:${sock}`, 'STDOUT'], { stdio: ['ignore', 'pipe', 'ignore'] });
  rx.on('error', () => {}); // a spawn failure shows as the socket never appearing
  let got = '';
  rx.stdout.on('data', (d) => { got += d; });
  try {
    await until(() => fs.existsSync(sock), 'notify socket');
    const wd = startWatchdog(log, { env: { ...process.env, NOTIFY_SOCKET: sock, WATCHDOG_USEC: '200000' }, block: false });
    await until(() => /WATCHDOG=1/.test(got), 'a WATCHDOG=1 datagram', 10_000);
    await wd.stop();
    await until(() => /STOPPING=1/.test(got), 'STOPPING=1', 10_000);
    assert.match(got, /^READY=1/);
    assert.ok(wd.stats.failed === 0, 'no send failed');
  } finally {
    rx.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

t.run();
