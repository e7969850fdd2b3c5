import { realClock } from '../clock';
import type { MeterSample } from '../hardware';
import { BusRegistry, createMeter, probeMeter, type MeterOptions } from '../../drivers/meter';
import { createIoBoard } from '../../drivers/io';
import { portHint, portProblem } from './port-error';
import { describeSerial, sleep, timer, type CheckResult, type DoctorContext } from './types';

/**
 * Doctor checks of the meter and the I/O board link. Each opens its device on its own
 * connection (the agent must not be running: serial ports are locked by whoever holds them).
 */

/** how far from nominal a live grid's frequency may plausibly be (Hz); a 50 Hz meter on a
 *  60 Hz config is off by 10, a wrong register map by far more; grids stay within ±0.5 Hz */
const PLAUSIBLE_HZ = 1.5;

export function meterOptions(ctx: DoctorContext): MeterOptions {
  return { id: 'grid', ...ctx.config.meter };
}

export function meterWhere(ctx: DoctorContext): string {
  const m = ctx.config.meter;
  return `${m.model} at ${m.tcp ?? (m.serial ? describeSerial(m.serial) : '?')} unit ${m.unit}`;
}

export async function checkMeter(ctx: DoctorContext): Promise<CheckResult> {
  const r = timer('meter');
  const where = meterWhere(ctx);
  const probe = await probeMeter(meterOptions(ctx), ctx.opts.meterTimeoutMs);
  const nominal = ctx.config.grid.nominal_hz;
  if (!probe.ok || !probe.sample) {
    const why = probe.faults[0] ?? `no reply in ${ctx.opts.meterTimeoutMs} ms`;
    const os = portProblem(probe.faults.join('\n'));
    const m = ctx.config.meter;
    if (os && m.serial && 'path' in m.serial) {
      return r.fail(`${where}: cannot open ${m.serial.path} (${os})`, portHint(os, m.serial.path, 'meter.serial.path'), { faults: probe.faults, os_error: os });
    }
    return r.fail(`${where} does not answer (${why})`,
      'check meter.tcp / meter.serial (path, baud; the SDM630 ships at 9600), meter.unit (the meter\'s Modbus address), ' +
      'and the wiring: RS-485 A/B swapped is the usual fault; on TCP, can this board reach the port?', { faults: probe.faults });
  }
  const { hz, kw } = probe.sample;
  const data = { hz, kw, ms: probe.ms };
  if (!Number.isFinite(hz) || Math.abs(hz - nominal) > PLAUSIBLE_HZ) {
    return r.fail(`${where} answers but reads ${Number.isFinite(hz) ? hz.toFixed(2) : hz} Hz, implausible for grid.nominal_hz ${nominal}`,
      Number.isFinite(hz) && Math.abs(hz - (nominal === 60 ? 50 : 60)) <= PLAUSIBLE_HZ
        ? `the grid here is ${nominal === 60 ? 50 : 60} Hz: set grid.nominal_hz`
        : 'wrong meter.model (register map) or meter.unit answering for another device', data);
  }
  ctx.meterOk = true;
  return r.pass(`${where}: ${hz.toFixed(2)} Hz, ${kw.toFixed(2)} kW (first reading in ${Math.round(probe.ms)} ms)`, data);
}

export async function checkIo(ctx: DoctorContext): Promise<CheckResult> {
  const r = timer('io');
  const c = ctx.config;
  if (!c.io) return r.skip('no io board configured');
  const serial = 'tcp' in c.io ? { tcp: c.io.tcp } : { path: c.io.path, baud: c.io.baud };
  const io = createIoBoard({
    serial,
    sample_ms: c.io.sample_ms,
    watchdog_ms: c.io.watchdog_ms,
    enable: Object.fromEntries(c.boards.filter((b) => b.enable_pin !== undefined).map((b) => [b.id, b.enable_pin!])),
    fans: c.fans,
    relay: c.grid.relay,
    thermistors: c.thermistors,
  }, realClock);
  ctx.io = io;
  await io.start(); // resolves on the first ready or the first failed attempt, never rejects
  const where = describeSerial(serial);
  const os = portProblem(io.lastError);
  if (!io.connected && os && 'path' in serial && serial.path !== undefined) {
    return r.fail(`no Firmata I/O board: cannot open ${serial.path} (${os})`, portHint(os, serial.path, 'io.path'), { os_error: os });
  }
  if (!io.connected) {
    return r.fail(`no Firmata I/O board on ${where} (${io.lastError?.message ?? 'no handshake'})`,
      'is StandardFirmata (2.5+) flashed and running at 57600 baud? check the USB cable and io.path ' +
      '(ls -l /dev/serial/by-id/), and that the agent service is stopped (it holds the port)');
  }
  if (io.lastError) {
    return r.fail(`I/O board on ${where} answers, but: ${io.lastError.message}`,
      'a configured pin cannot do what it is used for: compare enable_pin, pwm_pin, tach_pin and grid.relay.pin with the board\'s pin map (README "I/O board pins")');
  }
  ctx.ioOk = true;
  return r.pass(`Firmata I/O board on ${where}`);
}

/** one window's mean of the meter's kW: `t` is its time on the monotonic clock (ms) */
export interface MeterWindow {
  kw: number;
  sd: number;
  n: number;
  t: number;
}

/** Averages meter samples over a window, on a connection of its own, for the enable check. */
export class MeterReader {
  private readonly meter;
  private samples: MeterSample[] = [];
  private collecting = false;
  private last?: MeterSample;
  private faulted = false;

  constructor(opts: MeterOptions) {
    this.meter = createMeter(opts, realClock, { buses: new BusRegistry() });
    this.meter.on('sample', (s: MeterSample) => {
      this.last = s;
      if (this.collecting) this.samples.push(s);
    });
    // counted by the meter; a gap only thins the window
    this.meter.on('fault', () => { this.faulted = true; });
  }

  start(): Promise<void> {
    return this.meter.start();
  }

  /**
   * Wait settleMs for the site to settle, then the mean and spread of kW over windowMs. The
   * meter publishes only readings that changed (its registers repeat between measurements), so
   * a window of a steady site can pass without a new sample: the last one still holds then, if
   * a poll in the window answered with it (a repeat) and none failed. A window in which no poll
   * completed at all (a busy board) is held open, up to a few windows more, until one does:
   * the last sample may be from before the change the doctor just made.
   */
  async read(settleMs: number, windowMs: number, signal?: AbortSignal): Promise<MeterWindow> {
    await sleep(settleMs, signal);
    this.samples = [];
    this.faulted = false;
    this.collecting = true;
    const repeats = this.meter.counters.repeats;
    const polled = () => this.samples.length > 0 || this.meter.counters.repeats > repeats;
    const t0 = realClock.monotonic();
    await sleep(windowMs, signal);
    for (const end = t0 + 4 * windowMs + 1000; !polled() && !this.faulted && !signal?.aborted && realClock.monotonic() < end;) await sleep(20, signal);
    this.collecting = false;
    const mid = (t0 + realClock.monotonic()) / 2;
    if (!this.samples.length && this.last && polled() && !this.faulted) return { kw: this.last.kw, sd: 0, n: 1, t: mid };
    return windowOf(this.samples, mid);
  }

  stop(): Promise<void> {
    return this.meter.stop();
  }
}

/**
 * The mean kW of a window's samples at their mean time, and their scatter about the window's own
 * straight-line trend: a site load that ramps through the window is a move the enable check
 * interpolates, not noise in the reading.
 */
export function windowOf(samples: Array<{ kw: number; mono: number }>, mid: number): MeterWindow {
  const n = samples.length;
  if (!n) return { kw: Number.NaN, sd: 0, n: 0, t: mid };
  const kw = samples.reduce((a, s) => a + s.kw, 0) / n;
  const t = samples.reduce((a, s) => a + s.mono, 0) / n;
  const stt = samples.reduce((a, s) => a + (s.mono - t) ** 2, 0);
  const slope = n > 2 && stt > 0 ? samples.reduce((a, s) => a + (s.mono - t) * (s.kw - kw), 0) / stt : 0;
  const dof = slope !== 0 ? n - 2 : n - 1;
  const sd = dof > 0 ? Math.sqrt(samples.reduce((a, s) => a + (s.kw - kw - slope * (s.mono - t)) ** 2, 0) / dof) : 0;
  return { kw, sd, n, t };
}
