import { EventEmitter } from 'node:events';
import Firmata from 'firmata';
import five from 'johnny-five';
import type { Clock, Timer } from '../../agent/clock';
import { ErrorCode, HashflexError } from '../../agent/errors';
import { newCounters, type FanStatus, type IoBoard, type LinkCounters } from '../../agent/hardware';
import { logger } from '../../agent/log';
import { openTransport, describeSpec } from '../transport';
import { FirmataLink } from './link';
import { FirmataStreamMonitor } from './monitor';
import { withDefaults, type IoOptions, type ResolvedIoOptions } from './options';
import { countsToCelsius } from './thermistor';

const log = logger('io');

/** Firmata pin modes (Firmata protocol 2.6, "Pin modes"); PULLUP since StandardFirmata 2.5 */
const MODE = { INPUT: 0x00, OUTPUT: 0x01, ANALOG: 0x02, PWM: 0x03, PULLUP: 0x0b } as const;
const REPORT_VERSION = Buffer.from([0xf9]);
const QUERY_FIRMWARE = Buffer.from([0xf0, 0x79, 0xf7]);
/** garbage bytes in one watchdog window that, outnumbering good frames, mean a broken link */
const GARBAGE_LIMIT = 64;

/** One live connection: transport, firmata.js parser, johnny-five board, stream monitor. */
interface Conn {
  link: FirmataLink;
  io: Firmata;
  board: five.Board;
  monitor: FirmataStreamMonitor;
  ready: boolean;
  lastFrameAt: number;
  windowFrames: number;
  windowGarbage: number;
  timers: Timer[];
}

/**
 * The site's Firmata I/O board (StandardFirmata 2.5+ on an Arduino-class board), through
 * johnny-five's Board over firmata.js over a ByteTransport.
 *
 * Pins are driven through `board.io`, the IO-plugin API johnny-five itself sits on, not through
 * johnny-five's Pin/Sensor/Button classes: those poll their value with a 20 ms setInterval that
 * can never be cancelled (a leak on every reconnect, and up to 20 ms added to the relay trip), and
 * Pin re-sends the pin mode before every write. The relay contact is therefore seen in the same
 * tick its digital message is parsed, and an enable-line write goes to the OS synchronously.
 *
 * Desired outputs (enable lines, fan duty) are kept here and re-applied after every reconnect.
 */
export class FirmataIoBoard extends EventEmitter implements IoBoard {
  readonly counters: LinkCounters = newCounters();
  /** monotonic ms at which the chunk now being parsed arrived (trip-latency start point) */
  rxAt = 0;
  private readonly o: ResolvedIoOptions;
  private conn?: Conn;
  private readonly enableWanted = new Map<string, boolean>();
  private readonly dutyWanted = new Map<string, number>();
  private readonly rpm = new Map<string, number>();
  private readonly temps = new Map<string, number>();
  private relay = false;
  private closed = true;
  private inOutage = false;
  private everReady = false;
  private attempt = 0;
  private retry?: Timer;
  private closing: Promise<void> = Promise.resolve();
  private firstReady?: () => void;
  /** why the board was last lost (or could not be reached), for doctor and status */
  lastError?: Error;

  constructor(opts: IoOptions, private readonly clock: Clock) {
    super();
    this.o = withDefaults(opts);
    for (const id of Object.keys(this.o.enable)) this.enableWanted.set(id, false);
    for (const f of this.o.fans) this.dutyWanted.set(f.id, 0);
    this.markUnknown();
  }

  get relayActive(): boolean {
    return this.relay;
  }

  get connected(): boolean {
    return this.conn?.ready ?? false;
  }

  /**
   * Connect. Resolves at the first 'ready', or once the first attempt has failed ('fault'
   * emitted, `lastError` set): it never rejects, because a site must keep running (failed safe)
   * without its I/O board; reconnection goes on in the background until close().
   */
  start(): Promise<void> {
    if (!this.closed) return Promise.resolve();
    this.closed = false;
    return new Promise((resolve) => {
      this.firstReady = resolve;
      void this.connect();
    });
  }

  setEnable(boardId: string, on: boolean): void {
    const pin = this.o.enable[boardId];
    if (pin === undefined) return;
    this.enableWanted.set(boardId, on);
    const c = this.conn;
    if (!c?.ready) return;
    try {
      this.writeDigital(c.io, pin, on);
      this.counters.requests++;
    } catch (e) {
      this.lose(new HashflexError(`enable pin ${pin}: ${(e as Error).message}`, ErrorCode.DeviceFault));
    }
  }

  setFanDuty(fanId: string, duty: number): void {
    const fan = this.o.fans.find((f) => f.id === fanId);
    if (!fan || !Number.isFinite(duty)) return;
    const d = Math.min(1, Math.max(0, duty));
    const same = this.dutyWanted.get(fanId) === d;
    this.dutyWanted.set(fanId, d);
    const c = this.conn;
    if (!c?.ready || same) return; // a control loop re-sends its duty every cycle; the board keeps it
    try {
      c.io.pwmWrite(fan.pwmPin, Math.round(d * (c.io.RESOLUTION.PWM ?? 255)));
      this.counters.requests++;
    } catch (e) {
      this.lose(new HashflexError(`fan pin ${fan.pwmPin}: ${(e as Error).message}`, ErrorCode.DeviceFault));
    }
  }

  fans(): FanStatus[] {
    return this.o.fans.map((f) => ({ id: f.id, duty: this.dutyWanted.get(f.id) ?? 0, rpm: this.rpm.get(f.id) ?? NaN }));
  }

  temperatures(): Record<string, number> {
    return Object.fromEntries(this.temps);
  }

  /** resolves once every write issued so far has been handed to the OS */
  whenWritten(): Promise<void> {
    return this.conn?.link.whenWritten() ?? Promise.resolve();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.retry?.cancel();
    this.retry = undefined;
    const c = this.conn;
    this.conn = undefined;
    if (c) await this.teardown(c);
    this.firstReady?.();
    this.firstReady = undefined;
  }

  private async connect(): Promise<void> {
    this.retry = undefined;
    // the port of the lost connection must be shut first: serialport locks a port it holds open
    await this.closing;
    if (this.closed) return;
    let transport;
    try {
      transport = await openTransport(this.o.serial);
    } catch (e) {
      this.failAttempt(e as HashflexError);
      return;
    }
    if (this.closed) {
      await transport.close();
      return;
    }
    const monitor = new FirmataStreamMonitor();
    const link = new FirmataLink(
      transport,
      (chunk) => this.onChunk(c, chunk),
      (err) => this.lose(err ?? new HashflexError(`${transport.description} closed`, ErrorCode.TransportClosed, { disconnected: true })),
    );
    // firmata.js asks for the version itself after this long, instead of waiting 5 s for a
    // board that only announces itself after a reset
    const io = new Firmata(link, { reportVersionTimeout: 100, samplingInterval: this.o.sampleMs });
    io.on('error', () => { /* transport errors arrive through the link's close */ });
    // firmata.js waits for the firmware report only if it asked for it itself; a version report
    // that arrives early (a reply meant for the previous session, a board announcing its reset)
    // would leave it waiting for good. Asking again costs one reply, ignored if redundant.
    io.once('reportversion', () => link.write(QUERY_FIRMWARE));
    const board = new five.Board({ io, repl: false, debug: false, sigint: false, timeout: this.o.handshakeMs * 2 });
    board.on('error', () => { /* johnny-five's own connect timeout; ours fires first */ });
    const c: Conn = { link, io, board, monitor, ready: false, lastFrameAt: this.clock.monotonic(), windowFrames: 0, windowGarbage: 0, timers: [] };
    this.conn = c;
    c.timers.push(this.clock.setTimeout(() => {
      if (!c.ready) this.lose(new HashflexError(`${describeSpec(this.o.serial)}: no Firmata handshake in ${this.o.handshakeMs} ms`, ErrorCode.DeviceUnresponsive, { timeout: true }));
    }, this.o.handshakeMs));
    board.once('ready', () => this.onReady(c));
    link.announceOpen();
  }

  private onChunk(c: Conn, chunk: Buffer): void {
    this.rxAt = this.clock.monotonic();
    const { garbage, resyncs } = c.monitor;
    const frames = c.monitor.feed(chunk);
    const bad = c.monitor.garbage - garbage;
    this.counters.frames += frames;
    // Firmata has no checksum: bytes that fit no frame are what this link counts as CRC errors
    this.counters.crcErrors += bad;
    this.counters.resyncs += c.monitor.resyncs - resyncs;
    if (frames > 0) c.lastFrameAt = this.rxAt;
    c.windowFrames += frames;
    c.windowGarbage += bad;
  }

  private onReady(c: Conn): void {
    if (this.conn !== c) return;
    const io = c.io;
    // A pin this board cannot drive is a config fault, reported but not fatal: the enable lines
    // and the relay must keep working when, say, one fan's PWM pin is wrong. Safety pins first.
    const problems: string[] = [];
    const each = <T>(items: T[], setup: (x: T) => void) => {
      for (const x of items) {
        try {
          setup(x);
        } catch (e) {
          problems.push((e as Error).message);
        }
      }
    };
    each(Object.entries(this.o.enable), ([id, pin]) => {
      this.checkPin(io, pin, MODE.OUTPUT, `enable line of ${id}`);
      io.pinMode(pin, MODE.OUTPUT);
      this.writeDigital(io, pin, this.enableWanted.get(id) ?? false);
    });
    each(this.o.relay ? [this.o.relay] : [], (r) => this.watchRelay(io, r));
    each(this.o.fans, (f) => {
      this.checkPin(io, f.pwmPin, MODE.PWM, `PWM of fan ${f.id}`);
      io.pinMode(f.pwmPin, MODE.PWM);
      io.pwmWrite(f.pwmPin, Math.round((this.dutyWanted.get(f.id) ?? 0) * (io.RESOLUTION.PWM ?? 255)));
    });
    each(this.o.fans, (f) => this.readAnalog(io, f.tachChannel, `tach of fan ${f.id}`, (raw, max) => this.rpm.set(f.id, (raw / max) * f.fullScaleRpm)));
    each(this.o.thermistors, (t) => this.readAnalog(io, t.channel, `thermistor ${t.id}`, (raw, max) => this.temps.set(t.id, countsToCelsius(raw, max, t.curve))));
    c.ready = true;
    c.lastFrameAt = this.clock.monotonic();
    const tick = Math.max(10, Math.floor(this.o.watchdogMs / 3));
    c.timers.push(this.clock.setInterval(() => this.watchdog(c, tick), tick));
    if (this.everReady) this.counters.reconnects++;
    this.everReady = true;
    this.inOutage = false;
    this.attempt = 0;
    log.info({ device: describeSpec(this.o.serial), firmware: io.firmware.name, version: io.version }, 'I/O board ready');
    this.firstReady?.();
    this.firstReady = undefined;
    this.tell('ready');
    if (problems.length) {
      this.lastError = new HashflexError(`I/O board pins: ${problems.join('; ')}`, ErrorCode.DeviceFault);
      log.error({ problems }, 'I/O board pins not usable');
      this.tell('fault', this.lastError);
    }
  }

  /**
   * firmata.js writes a whole 8-pin port from its image, and that image holds the last level READ
   * on the port's inputs. StandardFirmata 2.5 turns on the pull-up of an INPUT pin written 1
   * (digitalWriteCallback), which would latch an active-high relay input "active" for good. So
   * input bits are cleared before every write: 0 on a non-output pin is ignored by the firmware.
   */
  private writeDigital(io: Firmata, pin: number, on: boolean): void {
    const relay = this.o.relay?.pin;
    if (relay !== undefined && relay >> 3 === pin >> 3) io.ports[pin >> 3] &= ~(1 << (relay & 7));
    io.digitalWrite(pin, on ? 1 : 0);
  }

  private checkPin(io: Firmata, pin: number, mode: number, what: string): void {
    if (!io.pins[pin]?.supportedModes.includes(mode)) {
      throw new HashflexError(`${what}: pin ${pin} cannot do mode ${mode} on this board`, ErrorCode.DeviceFault);
    }
  }

  private readAnalog(io: Firmata, ch: number, what: string, on: (raw: number, max: number) => void): void {
    const pin = io.analogPins[ch];
    if (pin === undefined) throw new HashflexError(`${what}: board has no analog input A${ch}`, ErrorCode.DeviceFault);
    this.checkPin(io, pin, MODE.ANALOG, what);
    io.pinMode(ch, MODE.ANALOG); // firmata.js: analog pins are addressed by channel here
    io.on(`analog-read-${ch}`, (raw: number) => on(raw, io.RESOLUTION.ADC ?? 1023));
    io.reportAnalogPin(ch, 1);
  }

  private watchRelay(io: Firmata, relay: { pin: number; active: 'low' | 'high' }): void {
    // an active-low contact is a dry contact to ground: the board's pull-up holds it high when open
    const mode = relay.active === 'low' ? MODE.PULLUP : MODE.INPUT;
    this.checkPin(io, relay.pin, mode, 'grid relay input');
    io.pinMode(relay.pin, mode);
    io.on(`digital-read-${relay.pin}`, (level: number) => {
      const active = relay.active === 'low' ? level === 0 : level === 1;
      if (active === this.relay) return;
      this.relay = active;
      this.tell('relay', active); // fast path: listeners run before anything else is parsed
    });
    io.reportDigitalPin(relay.pin, 1);
  }

  private watchdog(c: Conn, tick: number): void {
    if (this.conn !== c) return;
    const garbage = c.windowGarbage;
    const frames = c.windowFrames;
    c.windowGarbage = 0;
    c.windowFrames = 0;
    if (garbage > GARBAGE_LIMIT && garbage > frames) {
      this.lose(new HashflexError(`I/O board sends garbage (${garbage} bad bytes, ${frames} frames in ${tick} ms)`, ErrorCode.FrameInvalid));
      return;
    }
    const quiet = this.clock.monotonic() - c.lastFrameAt;
    if (quiet >= this.o.watchdogMs) {
      this.counters.timeouts++;
      this.lose(new HashflexError(`I/O board silent for ${Math.round(quiet)} ms`, ErrorCode.DeviceUnresponsive, { timeout: true }));
    } else if (quiet >= tick) {
      c.link.write(REPORT_VERSION); // any answer proves the board alive
    }
  }

  /** the connection is gone or unusable: tear it down, report once per outage, retry */
  private lose(err: HashflexError | Error): void {
    const c = this.conn;
    if (!c) return;
    this.conn = undefined;
    this.closing = this.teardown(c);
    this.failAttempt(err);
  }

  private failAttempt(err: Error): void {
    this.markUnknown();
    if (!this.inOutage) {
      this.inOutage = true;
      log.warn({ err, device: describeSpec(this.o.serial) }, 'I/O board lost');
      this.tell('fault', err);
    }
    this.lastError = err;
    this.firstReady?.();
    this.firstReady = undefined;
    if (this.closed) return;
    const wait = Math.min(this.o.reconnectMs.max, this.o.reconnectMs.min * 2 ** this.attempt++);
    this.retry = this.clock.setTimeout(() => void this.connect(), wait);
  }

  /**
   * Emit from inside firmata.js's parser without letting a listener's exception reach it: there
   * it would read as line noise and drop a healthy connection. The listener's bug is logged.
   */
  private tell(event: 'relay' | 'ready' | 'fault', arg?: unknown): void {
    try {
      this.emit(event, arg);
    } catch (err) {
      log.error({ err, event }, 'I/O board listener threw');
    }
  }

  private markUnknown(): void {
    for (const f of this.o.fans) this.rpm.set(f.id, NaN);
    for (const t of this.o.thermistors) this.temps.set(t.id, NaN);
  }

  private async teardown(c: Conn): Promise<void> {
    for (const t of c.timers) t.cancel();
    c.link.dispose();
    // johnny-five keeps every Board in a module-global list and arms a plain connect timer;
    // without this each reconnect would leak the old board, parser and transport
    if (c.board.timer) clearTimeout(c.board.timer);
    const i = five.Board.cache.indexOf(c.board);
    if (i >= 0) five.Board.cache.splice(i, 1);
    c.board.removeAllListeners();
    if (c.io.reportVersionTimeoutId) clearTimeout(c.io.reportVersionTimeoutId);
    c.io.removeAllListeners();
    c.io.on('error', () => {});
    await c.link.transport.close().catch(() => {});
  }
}
