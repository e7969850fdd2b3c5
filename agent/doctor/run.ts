import type { Config } from '../config';
import { checkBoard, checkEnables, checkFans, checkRelay } from './boards';
import { checkIo, checkMeter } from './devices';
import { checkMiners, checkSwitches, closeMiners } from './miners';
import { checkClock, checkStorage, checkUplink } from './system';
import { checkScada } from './scada';
import { checkOpenAdr } from './openadr';
import { DOCTOR_DEFAULTS, timer, type CheckId, type CheckResult, type DoctorContext, type DoctorOptions, type DoctorReport } from './types';

/**
 * Run every commissioning check on a validated config, in order (README "Commissioning
 * checks"), and leave the site safe: whatever happens, every board ends with its enable line
 * low and its chain inactive, fans back at 0, and every port closed. Network miners are left as
 * they were found (only the switch check, with --switch-miners, stops one, and wakes it again).
 */
export async function runDoctor(config: Config, options: DoctorOptions = {}): Promise<DoctorReport> {
  const t0 = performance.now();
  const ctx: DoctorContext = {
    config,
    opts: {
      ...DOCTOR_DEFAULTS,
      now: Date.now,
      ...Object.fromEntries(Object.entries(options).filter(([k, v]) => v !== undefined && k !== 'onResult')),
    } as DoctorContext['opts'],
    ioOk: false,
    meterOk: false,
    boards: new Map(),
    boardsUp: new Set(),
    miners: new Map(),
    minersUp: new Set(),
    uplinkOk: false,
  };
  const results: CheckResult[] = [];
  const add = (r: CheckResult) => {
    results.push(r);
    options.onResult?.(r);
  };
  const aborted = () => options.signal?.aborted ?? false;
  const steps: Array<[CheckId, () => Promise<CheckResult | CheckResult[]>]> = [
    ['config', async () => timer('config').pass(`agent ${config.agent.id}: ${config.boards.length} board(s), ${config.fans.length} fan(s)${config.miners.length ? `, ${config.miners.length} miner(s)` : ''}, mode ${config.control.mode}`)],
    ['meter', () => checkMeter(ctx)],
    ['io', () => checkIo(ctx)],
    ['board', async () => {
      const out: CheckResult[] = [];
      for (const b of config.boards) if (!aborted()) out.push(await checkBoard(ctx, b));
      return out;
    }],
    ['fan', () => checkFans(ctx)],
    ['enable', () => checkEnables(ctx)],
    ['relay', () => checkRelay(ctx)],
    // the miner step gives each miner's `miner` line, then its `login` line
    ['miner', () => checkMiners(ctx)],
    ['switch', async () => {
      try {
        return await checkSwitches(ctx);
      } finally {
        await closeMiners(ctx); // no polling of miners through the checks that follow
      }
    }],
    ['uplink', () => checkUplink(ctx)],
    ['scada', () => checkScada(ctx)],
    ['openadr', () => checkOpenAdr(ctx)],
    ['clock', () => checkClock(ctx)],
    ['storage', () => checkStorage(ctx)],
  ];
  try {
    for (const [id, step] of steps) {
      if (aborted()) break;
      const r = await step().catch((e: Error) => timer(id).fail(`doctor error: ${e.message}`, 'a bug in the doctor: report it with this output'));
      for (const x of Array.isArray(r) ? r : [r]) add(x);
    }
  } finally {
    await makeSafe(ctx);
  }
  const count = (s: CheckResult['status']) => results.filter((r) => r.status === s).length;
  const failed = count('fail') + (aborted() ? 1 : 0);
  return { ok: failed === 0, results, passed: count('pass'), failed, skipped: count('skip'), ms: Math.round(performance.now() - t0) };
}

/** every board off (enable low, chain inactive), fans to 0, links closed; miners' drivers closed, the miners left as they are */
async function makeSafe(ctx: DoctorContext): Promise<void> {
  const io = ctx.io;
  const miners = closeMiners(ctx);
  if (io) for (const b of ctx.config.boards) io.setEnable(b.id, false);
  await Promise.allSettled([...ctx.boards.values()].map((d) => d.trip()));
  if (io) {
    for (const f of ctx.config.fans) io.setFanDuty(f.id, 0);
    await io.whenWritten().catch(() => undefined);
  }
  await Promise.allSettled([...ctx.boards.values()].map((d) => d.close()));
  await io?.close().catch(() => undefined);
  await miners;
}
