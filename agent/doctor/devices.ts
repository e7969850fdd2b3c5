import { realClock } from '../clock';
import type { MeterSample } from '../hardware';
import { BusRegistry, createMeter, probeMeter, type MeterOptions } from '../../drivers/meter';
import { createIoBoard } from '../../drivers/io';
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

/** Averages meter samples over a window, on a connection of its own, for the enable check. */
export class MeterReader {
  private readonly meter;
  private samples: MeterSample[] = [];
  private collecting = false;

  constructor(opts: MeterOptions) {
    this.meter = createMeter(opts, realClock, { buses: new BusRegistry() });
    this.meter.on('sample', (s: MeterSample) => { if (this.collecting) this.samples.push(s); });
    this.meter.on('fault', () => { /* counted by the meter; a gap only thins the window */ });
  }

  start(): Promise<void> {
    return this.meter.start();
  }

  /** wait settleMs for the site to settle, then the mean and spread of kW over windowMs */
  async read(settleMs: number, windowMs: number, signal?: AbortSignal): Promise<{ kw: number; sd: number; n: number }> {
    await sleep(settleMs, signal);
    this.samples = [];
    this.collecting = true;
    await sleep(windowMs, signal);
    this.collecting = false;
    const kws = this.samples.map((s) => s.kw);
    const n = kws.length;
    const kw = n ? kws.reduce((a, b) => a + b, 0) / n : Number.NaN;
    const sd = n > 1 ? Math.sqrt(kws.reduce((a, b) => a + (b - kw) ** 2, 0) / (n - 1)) : 0;
    return { kw, sd, n };
  }

  stop(): Promise<void> {
    return this.meter.stop();
  }
}
