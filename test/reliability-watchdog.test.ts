import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Clock, Timer } from '../agent/clock';
import { logger } from '../agent/log';
import { startWatchdog } from '../agent/watchdog';

/**
 * The systemd watchdog as the last line of the safety story (README "Reliability"): when the
 * agent's event loop stalls, WATCHDOG=1 stops, so systemd kills and restarts the agent, and the
 * restarted agent brings every board up off (test/crash.test.ts). test/package-watchdog.test.ts
 * covers the notification protocol and the health callback; this suite covers the stall itself.
 */
const t = suite('watchdog under a stalled loop');
const log = logger('test');
const settle = () => new Promise((r) => setImmediate(r));

/** a clock whose monotonic time the test moves by hand, and whose interval the test fires */
function stallClock() {
  let mono = 0;
  let tick: (() => void) | undefined;
  const clock: Clock = {
    now: () => mono,
    monotonic: () => mono,
    setTimeout: (): Timer => ({ cancel: () => undefined }),
    setInterval: (fn): Timer => { tick = fn; return { cancel: () => { tick = undefined; } }; },
  };
  return { clock, fire: (atMs: number) => { mono = atMs; tick?.(); } };
}

t('A tick that arrives late (the loop was blocked) sends no WATCHDOG=1, and on-time ticks resume it', async () => {
  const { clock, fire } = stallClock();
  const sent: string[] = [];
  const wd = startWatchdog(log, { env: { NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '2000000' }, clock, send: async (m) => { sent.push(m.split('\n')[0]); } });
  await settle();
  assert.is(wd.intervalMs, 1000);
  fire(1000); await settle();
  fire(2000); await settle();
  // the loop stalls for 5 s: the next tick runs 4 s late
  fire(7000); await settle();
  assert.equal(sent, ['READY=1', 'WATCHDOG=1', 'WATCHDOG=1'], 'no ping for the late tick');
  assert.is(wd.stats.skipped, 1);
  fire(8000); await settle();
  assert.equal(sent.slice(-1), ['WATCHDOG=1'], 'pings resume once the loop keeps time');
  await wd.stop();
});

t('A real event loop blocked for several ping periods skips the ping when it wakes', async () => {
  const sent: string[] = [];
  // WATCHDOG_USEC 200 ms: a ping every 100 ms on the real clock
  const wd = startWatchdog(log, { env: { NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '200000' }, send: async (m) => { sent.push(m.split('\n')[0]); } });
  try {
    await new Promise((r) => setTimeout(r, 250));
    const before = sent.length;
    const end = Date.now() + 600;
    while (Date.now() < end) { /* the stall under test: a synchronous loop that never yields */ }
    assert.is(sent.length, before, 'nothing is sent while the loop is blocked');
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(wd.stats.skipped >= 1, `skipped ${wd.stats.skipped}`);
  } finally {
    await wd.stop();
  }
});

t.run();
