import { execFile } from 'node:child_process';
import { realClock, type Clock, type Timer } from './clock';
import type { Logger } from './log';

/**
 * systemd readiness and watchdog notifications (sd_notify(3)) for `Type=notify` + `WatchdogSec=`.
 *
 * Node cannot open a unix datagram socket without a native module, and NOTIFY_SOCKET is a
 * SOCK_DGRAM socket, so the messages go out through the `systemd-notify` binary (it ships with
 * systemd, so it is on every board this unit can run on). Two consequences, handled in the unit:
 *  - the sender is a child process, so the unit needs `NotifyAccess=all` (default is main only);
 *  - systemd attributes a message to a unit by the sender's PID: a sender that exits before
 *    systemd reads the message gets it dropped. systemd-notify since v246 waits for systemd to
 *    process the message (BARRIER=1, sd_notify_barrier) unless `--no-block`; we keep that wait.
 *
 * WATCHDOG=1 goes out every half of WATCHDOG_USEC (as sd_watchdog_enabled(3) advises) from a
 * timer on the event loop, and only while the loop is healthy: a tick that comes late by more
 * than a quarter of the interval (the loop was blocked) or a failing `healthy()` skips the ping,
 * so a wedged agent is killed and restarted by systemd (Restart=on-failure).
 */
export interface WatchdogOptions {
  env?: NodeJS.ProcessEnv;
  clock?: Clock;
  /** an extra health check; false skips the ping */
  healthy?: () => boolean;
  /** how a message reaches systemd (tests replace it); default: the systemd-notify binary */
  send?: (message: string) => Promise<void>;
  /** wait for systemd to process each message (BARRIER); false = `--no-block` */
  block?: boolean;
}

export interface Watchdog {
  /** the ping period (ms), 0 when systemd asked for no watchdog */
  readonly intervalMs: number;
  /** stats for status and tests */
  readonly stats: { sent: number; skipped: number; failed: number };
  /** send STOPPING=1 and stop pinging; resolves when the message is out (or failed) */
  stop(): Promise<void>;
}

const NOOP: Watchdog = { intervalMs: 0, stats: { sent: 0, skipped: 0, failed: 0 }, stop: async () => undefined };
/** systemd-notify's own barrier timeout is 5 s; never let a hung child pile up beyond that */
const SEND_TIMEOUT_MS = 6000;

export function notifyViaBinary(env: NodeJS.ProcessEnv, block = true): (message: string) => Promise<void> {
  return (message) => new Promise((resolve, reject) => {
    const args = [...(block ? [] : ['--no-block']), ...message.split('\n')];
    execFile('systemd-notify', args, { env, timeout: SEND_TIMEOUT_MS }, (err) => (err ? reject(err) : resolve()));
  });
}

/** Start notifying systemd, if it is listening (NOTIFY_SOCKET set); otherwise a no-op. */
export function startWatchdog(log: Logger, opts: WatchdogOptions = {}): Watchdog {
  const env = opts.env ?? process.env;
  if (!env.NOTIFY_SOCKET) return NOOP;
  const clock = opts.clock ?? realClock;
  const send = opts.send ?? notifyViaBinary(env, opts.block ?? true);
  const usec = Number(env.WATCHDOG_USEC);
  // WATCHDOG_PID names the process the watchdog is meant for (sd_watchdog_enabled(3))
  const forUs = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === process.pid;
  const intervalMs = Number.isFinite(usec) && usec > 0 && forUs ? Math.max(50, Math.floor(usec / 2000)) : 0;
  const stats = { sent: 0, skipped: 0, failed: 0 };
  let inFlight = false;
  let stopped = false;
  let timer: Timer | undefined;

  const deliver = (message: string): Promise<void> => {
    inFlight = true;
    return send(message)
      .then(() => { stats.sent++; })
      .catch((e: Error) => {
        stats.failed++;
        log.warn({ err: e.message, message: message.split('\n')[0] }, 'systemd notify failed');
      })
      .finally(() => { inFlight = false; });
  };

  void deliver(`READY=1\nSTATUS=running${intervalMs ? `, watchdog every ${intervalMs} ms` : ''}`);
  if (intervalMs) {
    let due = clock.monotonic() + intervalMs;
    timer = clock.setInterval(() => {
      const now = clock.monotonic();
      const late = now - due;
      due = now + intervalMs;
      let ok = late <= intervalMs / 4;
      try {
        if (ok && opts.healthy) ok = opts.healthy();
      } catch {
        ok = false;
      }
      // a send still running means systemd-notify hangs: another one would not help
      if (!ok || inFlight || stopped) {
        stats.skipped++;
        if (!ok) log.warn({ late_ms: Math.round(late) }, 'watchdog ping skipped: event loop late or agent unhealthy');
        return;
      }
      void deliver('WATCHDOG=1');
    }, intervalMs);
  }
  log.info({ watchdog_ms: intervalMs }, 'systemd notify: ready');

  return {
    intervalMs,
    stats,
    async stop() {
      if (stopped) return;
      stopped = true;
      timer?.cancel();
      await deliver('STOPPING=1');
    },
  };
}
