import type { Config } from '../config';
import type { BoardDriver } from '../../drivers/hashboard';
import type { FirmataIoBoard } from '../../drivers/io';
import type { IoBoard, NetworkMiner } from '../hardware';

/** One line of the doctor's report. `item` names the board, fan or miner for per-device checks. */
export interface CheckResult {
  check: CheckId;
  item?: string;
  status: 'pass' | 'fail' | 'skip';
  /** what was seen, for the technician */
  detail: string;
  /** what to do about a failure (or why a check was skipped) */
  hint?: string;
  ms: number;
  /** figures for scripts (--json) */
  data?: Record<string, unknown>;
}

/** the checks, in the order they run (README "Commissioning checks") */
export const CHECKS = ['config', 'meter', 'io', 'board', 'fan', 'enable', 'relay', 'miner', 'login', 'switch', 'uplink', 'scada', 'openadr', 'clock', 'storage'] as const;
export type CheckId = (typeof CHECKS)[number];

export interface DoctorOptions {
  /** wall clock for the clock check (tests shift it); default Date.now */
  now?: () => number;
  /** wait after switching a board before reading the meter (ms); meters average over ~1 s */
  meterSettleMs?: number;
  /** meter samples are averaged over this long (ms) */
  meterWindowMs?: number;
  /** how long a fan may take to spin up (ms) */
  fanTimeoutMs?: number;
  /** how long a chain may take to enumerate (ms) */
  boardTimeoutMs?: number;
  /** frequency the enable check runs a board at (MHz); default each board's min_mhz */
  enableMhz?: number;
  /** how long to wait for the uplink (ms) */
  uplinkTimeoutMs?: number;
  /** how long the meter may take to answer (ms) */
  meterTimeoutMs?: number;
  /** stop and wake each network miner, leaving it as found (`--switch-miners`); never by default */
  switchMiners?: boolean;
  /** how long a miner's driver may take to start and give its first reading (ms) */
  minerTimeoutMs?: number;
  /** the miners' status poll period while the doctor watches them (ms; a miner's poll_ms if shorter) */
  minerPollMs?: number;
  /** how long a stopped miner may take to read asleep (ms) */
  minerStopTimeoutMs?: number;
  /** how long a woken miner may take to hash again (ms) */
  minerWakeTimeoutMs?: number;
  /** each result as soon as it is known (the CLI prints lines as they come) */
  onResult?: (r: CheckResult) => void;
  signal?: AbortSignal;
}

export interface DoctorReport {
  ok: boolean;
  results: CheckResult[];
  passed: number;
  failed: number;
  skipped: number;
  ms: number;
}

/** What the checks share: the config, and the devices opened so far (closed safely at the end). */
export interface DoctorContext {
  config: Config;
  opts: Required<Omit<DoctorOptions, 'onResult' | 'signal' | 'enableMhz'>> & Pick<DoctorOptions, 'enableMhz' | 'signal'>;
  io?: IoBoard & FirmataIoBoard;
  ioOk: boolean;
  meterOk: boolean;
  /** board drivers brought up by the board check, by id */
  boards: Map<string, BoardDriver>;
  /** boards whose chain answered */
  boardsUp: Set<string>;
  /** network miner drivers started by the miner check, by id (closed, never stopped, at the end) */
  miners: Map<string, NetworkMiner>;
  /** miners that answered as their family and accepted the credentials */
  minersUp: Set<string>;
  /** the controller reached and accepted us */
  uplinkOk: boolean;
  /** the controller's Date header on the uplink check's upgrade, and our clock (opts.now) then */
  controllerClock?: { theirs: number; ours: number };
}

export const DOCTOR_DEFAULTS = {
  meterSettleMs: 2000,
  meterWindowMs: 1500,
  fanTimeoutMs: 8000,
  boardTimeoutMs: 10_000,
  uplinkTimeoutMs: 8000,
  meterTimeoutMs: 3000,
  switchMiners: false,
  minerTimeoutMs: 15_000,
  minerPollMs: 1000,
  // the drivers' own bounds for a soft-off and a soft-on to show (drivers/miner/avalon: boards re-initialise)
  minerStopTimeoutMs: 60_000,
  minerWakeTimeoutMs: 300_000,
};

/** a result builder that times the check */
export function timer(check: CheckId, item?: string) {
  const t0 = performance.now();
  const ms = () => Math.round(performance.now() - t0);
  return {
    pass: (detail: string, data?: Record<string, unknown>): CheckResult => ({ check, item, status: 'pass', detail, ms: ms(), ...(data ? { data } : {}) }),
    fail: (detail: string, hint: string, data?: Record<string, unknown>): CheckResult => ({ check, item, status: 'fail', detail, hint, ms: ms(), ...(data ? { data } : {}) }),
    skip: (detail: string, hint?: string): CheckResult => ({ check, item, status: 'skip', detail, ...(hint ? { hint } : {}), ms: ms() }),
  };
}

/** a wait that an abort (Ctrl-C) cuts short */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

export function describeSerial(s: { path: string } | { tcp: string }): string {
  return 'path' in s ? s.path : `tcp ${s.tcp}`;
}
