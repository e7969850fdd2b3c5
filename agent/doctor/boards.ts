import { realClock } from '../clock';
import type { Config } from '../config';
import { createHashboard, hashboardOptionsFrom, type BoardDriver } from '../../drivers/hashboard';
import { FAN_DEFAULTS } from '../control/fans';
import { MeterReader, meterOptions, type MeterWindow } from './devices';
import { cycleFigures, cycleVerdict, unsteadyKw, type Cycle, type CycleFigures } from './enable-step';
import { portHint, portProblem } from './port-error';
import { describeSerial, sleep, timer, type CheckResult, type DoctorContext } from './types';

/**
 * Doctor checks that switch things: chains, fans, enable lines, and the relay input. Every
 * board is left off (enable line low, chain inactive) after its check, and again at the end.
 */

type BoardConfig = Config['boards'][number];

function driverFor(ctx: DoctorContext, b: BoardConfig): BoardDriver {
  let d = ctx.boards.get(b.id);
  if (d) return d;
  const io = ctx.io;
  // with an enable line, the driver raises it before talking to the chain and drops it on trip()
  const power = b.enable_pin !== undefined && io ? { power: (on: boolean) => io.setEnable(b.id, on) } : {};
  d = createHashboard(hashboardOptionsFrom(b, power), realClock);
  ctx.boards.set(b.id, d);
  return d;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<never>((_, reject) => { t = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms); }),
  ]);
}

export async function checkBoard(ctx: DoctorContext, b: BoardConfig): Promise<CheckResult> {
  const r = timer('board', b.id);
  const where = describeSerial(b.serial);
  if (b.enable_pin !== undefined && !ctx.ioOk) return r.skip('not tried: its enable line needs the I/O board', 'fix the io check first');
  const d = driverFor(ctx, b);
  let error: string | undefined;
  try {
    await withTimeout(d.start(), ctx.opts.boardTimeoutMs, `${b.id} bring-up`);
  } catch (e) {
    error = (e as Error).message;
  } finally {
    await d.trip(); // enable line low, chain inactive: boards stay off between checks
  }
  const found = d.status().chipsFound;
  const data = { chips_found: found, chips_expected: b.chips, model: b.model };
  const power = b.enable_pin !== undefined ? ` (enable pin ${b.enable_pin})` : '';
  const os = portProblem(error);
  if (os && 'path' in b.serial) {
    return r.fail(`${b.id}: cannot open ${b.serial.path} (${os})`, portHint(os, b.serial.path, 'boards[].serial.path'), { ...data, os_error: os });
  }
  if (error !== undefined || found === 0) {
    return r.fail(`${b.id} on ${where}: no ${b.model} chip answers (${error ?? 'none found'})`,
      `check the board's power${power} and supply, the UART cable (TX/RX crossed, common ground), boards[].serial (path, baud 115200) ` +
      'and boards[].model; is the agent service stopped (it holds the port)?', data);
  }
  if (found !== b.chips) {
    return r.fail(`${b.id} on ${where}: ${found} of ${b.chips} ${b.model} chips answer`,
      found < b.chips
        ? `the chain breaks after chip ${found}: a dead chip or a broken link between chips ${found - 1} and ${found} (or boards[].chips is wrong)`
        : `boards[].chips says ${b.chips}: set it to ${found} if this board really has ${found} chips`, data);
  }
  ctx.boardsUp.add(b.id);
  return r.pass(`${b.id} on ${where}: ${found} of ${b.chips} ${b.model} chips answer`, data);
}

export async function checkFans(ctx: DoctorContext): Promise<CheckResult[]> {
  const fans = ctx.config.fans;
  if (!fans.length) return [];
  const io = ctx.io;
  if (!ctx.ioOk || !io) return fans.map((f) => timer('fan', f.id).skip('not tried: needs the I/O board', 'fix the io check first'));
  const threshold = Math.max(ctx.config.fan_curve?.failure?.rpm ?? FAN_DEFAULTS.failure.rpm, 1);
  const timers = new Map(fans.map((f) => [f.id, timer('fan', f.id)]));
  const before = new Map(io.fans().map((f) => [f.id, f.rpm]));
  for (const f of fans) io.setFanDuty(f.id, 1);
  const spun = new Map<string, number>();
  const end = Date.now() + ctx.opts.fanTimeoutMs;
  while (spun.size < fans.length && Date.now() < end && !ctx.opts.signal?.aborted) {
    await sleep(100, ctx.opts.signal);
    for (const s of io.fans()) if (!spun.has(s.id) && s.rpm >= threshold) spun.set(s.id, performance.now());
  }
  const after = new Map(io.fans().map((f) => [f.id, f.rpm]));
  for (const f of fans) io.setFanDuty(f.id, 0);
  return fans.map((f) => {
    const r = timers.get(f.id)!;
    const rpm = after.get(f.id) ?? Number.NaN;
    const data = { rpm_before: before.get(f.id), rpm, threshold_rpm: threshold };
    if (!Number.isFinite(rpm)) {
      return r.fail(`${f.id}: its tach (${f.tach_pin}) never reported`,
        `check fans[].tach_pin and the frequency-to-voltage converter's output on ${f.tach_pin}`, data);
    }
    if (!spun.has(f.id)) {
      return r.fail(`${f.id}: ${Math.round(rpm)} rpm after ${ctx.opts.fanTimeoutMs / 1000} s at full duty (needs ${threshold})`,
        `does the fan turn? if not: its supply and the PWM wire on pin ${f.pwm_pin}; if it does: the tach wire to ${f.tach_pin} ` +
        'and fans[].tach_full_scale_rpm', data);
    }
    return r.pass(`${f.id}: turns at ${Math.round(rpm)} rpm at full duty (PWM pin ${f.pwm_pin}, tach ${f.tach_pin})`, data);
  });
}

/**
 * Enable lines switch the boards: bring each board up at a low frequency, read the meter, drop
 * its enable line alone, read again, stop its chain, read once more. The power that goes with the
 * line must be the board's, measured against the site's own drift (enable-step.ts).
 */
export async function checkEnables(ctx: DoctorContext): Promise<CheckResult[]> {
  const withPin = ctx.config.boards.filter((b) => b.enable_pin !== undefined);
  if (!withPin.length) return [];
  const skip = (why: string, hint: string) => withPin.map((b) => timer('enable', b.id).skip(why, hint));
  if (!ctx.ioOk) return skip('not tried: needs the I/O board', 'fix the io check first');
  if (!ctx.meterOk) return skip('not tried: needs the meter', 'fix the meter check first');
  const reader = new MeterReader(meterOptions(ctx));
  await reader.start();
  try {
    const out: CheckResult[] = [];
    for (const b of withPin) {
      if (ctx.opts.signal?.aborted) break;
      out.push(await enableOne(ctx, b, reader));
    }
    return out;
  } finally {
    await reader.stop();
  }
}

/** cycles tried before the enable check says it cannot tell (enable-step.ts) */
const ENABLE_CYCLES = 3;

async function enableOne(ctx: DoctorContext, b: BoardConfig, reader: MeterReader): Promise<CheckResult> {
  const r = timer('enable', b.id);
  if (!ctx.boardsUp.has(b.id)) return r.skip('not tried: the board did not answer', 'fix its board check first');
  const d = driverFor(ctx, b);
  const mhz = Math.min(d.maxMhz, Math.max(d.minMhz, ctx.opts.enableMhz ?? d.minMhz));
  const expected = d.kwAt(mhz);
  const { meterSettleMs: settle, meterWindowMs: window, signal } = ctx.opts;
  const linesWritten = () => withTimeout(ctx.io!.whenWritten(), 1000, 'enable line write').catch(() => undefined);
  const windows: MeterWindow[] = [];
  const read = async () => {
    const w = await reader.read(settle, window, signal);
    windows.push(w);
    return w;
  };
  const cycles: Cycle[] = [];
  const figures: CycleFigures[] = [];
  const last = () => figures.at(-1);
  const data = (verdict?: string) => ({
    mhz, expected_kw: round(expected), ...(verdict ? { verdict } : {}),
    ...(last() && verdict && verdict !== 'unsteady' ? { came_kw: round(last()!.came_kw), drop_kw: round(last()!.came_kw - last()!.stayed_kw) } : {}),
    samples: windows.reduce((n, w) => n + w.n, 0),
    cycles: figures.map((f, i) => ({
      kw_off: round(cycles[i].off.kw), kw_on: round(cycles[i].on.kw), kw_line_low: round(cycles[i].low.kw), kw_off_after: round(cycles[i].offAfter.kw),
      ...Object.fromEntries(Object.entries(f).map(([k, v]) => [k, round(v as number)])),
    })),
  });
  // settle: the fans just stopped, too. Two off readings: the site's trend coming into the first cycle
  let trend = { from: await read(), to: await read() };
  let off = trend.to;
  for (let i = 0; i < ENABLE_CYCLES && !signal?.aborted; i++) {
    let on;
    try {
      // raises the enable line, re-enumerates the chain (it was reset by the power cut), ramps up
      await withTimeout(d.setFrequency(mhz), ctx.opts.boardTimeoutMs, `${b.id} at ${mhz} MHz`);
      on = await read();
    } catch (e) {
      await d.trip();
      return r.fail(`${b.id} did not come up at ${mhz} MHz after its enable line (pin ${b.enable_pin}) went high: ${(e as Error).message}`,
        `the board answered with its line high before; check that pin ${b.enable_pin} reaches ${b.id}'s enable input and the board's supply`, data());
    }
    const running = d.status().on;
    // only the enable line: chain-inactive would stop the power too and hide a line that does nothing
    // the settle counts from the line's write leaving for the board, not from the call
    ctx.io!.setEnable(b.id, false);
    await linesWritten();
    const low = await read();
    await d.trip(); // now the board is off whatever its line does: the second off reading
    await linesWritten();
    const offAfter = await read();
    const c = { off, on, low, offAfter };
    const f = cycleFigures(c, trend);
    cycles.push(c);
    figures.push(f);
    trend = { from: off, to: offAfter };
    off = offAfter;
    if (!running) return r.fail(`${b.id} at ${mhz} MHz: never started hashing`, `run \`hashflex doctor\` again, then look at the board check`, data());
    if (![c.off, c.on, c.low, c.offAfter].every((w) => w.n > 0 && Number.isFinite(w.kw))) {
      return r.fail(`${b.id}: the meter gave no readings during the check`, 'see the meter check; a meter that drops out under load needs its wiring looked at', data());
    }
    const verdict = cycleVerdict(f, expected);
    if (verdict === undefined) continue;
    const seen = `${b.id} at ${mhz} MHz: ${round(f.came_kw)} kW came with pin ${b.enable_pin} high, ${round(f.came_kw - f.stayed_kw)} kW went with it low ` +
      `(expected about ${round(expected)} kW${Math.abs(f.moved_kw) >= expected / 4 ? `; the site itself moved ${round(f.moved_kw)} kW meanwhile` : ''}` +
      `${cycles.length > 1 ? `; cycle ${cycles.length}: the site moved too much in the one before` : ''})`;
    if (verdict === 'pass') return r.pass(seen, data(verdict));
    if (verdict === 'stuck') {
      return r.fail(seen, `dropping pin ${b.enable_pin} did not remove ${b.id}'s power: the pin drives another board or nothing ` +
        `(wiring, or boards[].enable_pin), or ${b.id} is powered from elsewhere`, data(verdict));
    }
    return r.fail(seen, `${b.id} hashed, but the meter did not see its power: is ${b.id}'s supply on the circuit the meter measures (its current transformers)? ` +
      `If boards[].chips or model overstate the board, the expected power is too high`, data(verdict));
  }
  if (!figures.length) return r.fail(`${b.id}: interrupted`, 'run the doctor again', data());
  return r.fail(`${b.id}: the site's load moved by ${round(unsteadyKw(figures))} kW while measuring; cannot tell (a ${round(expected)} kW step, ${figures.length} cycles)`,
    `not a wiring fault: the site's own load moved more than ${b.id} draws. Retry when the load is steady, with --enable-mhz set higher ` +
    `(a bigger step), or with --settle-ms longer for a meter that averages over more than a second`, data('unsteady'));
}

export async function checkRelay(ctx: DoctorContext): Promise<CheckResult> {
  const r = timer('relay');
  const relay = ctx.config.grid.relay;
  if (!relay) return r.skip('no grid relay contact configured');
  if (!ctx.ioOk || !ctx.io) return r.skip('not tried: needs the I/O board', 'fix the io check first');
  // the board reports the pin as soon as reporting is switched on, then on every change;
  // a few sample periods leave room for the first report
  await sleep(3 * (ctx.config.io?.sample_ms ?? 100), ctx.opts.signal);
  const active = ctx.io.relayActive;
  const data = { pin: relay.pin, active_level: relay.active, signalling_trip: active };
  if (active) {
    return r.fail(`relay contact on pin ${relay.pin} signals a trip now (active ${relay.active})`,
      `the agent would keep every board off. If the grid operator is not tripping the site: grid.relay.active is the wrong polarity, ` +
      `or the contact on pin ${relay.pin} is wired wrong (active low = dry contact to ground)`, data);
  }
  return r.pass(`relay contact on pin ${relay.pin} reads inactive (no trip signalled; active ${relay.active})`, data);
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
