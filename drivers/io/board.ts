import { EventEmitter } from 'node:events';
import type Firmata from 'firmata';
import type five from 'johnny-five';
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
/** Firmata sysex command of every OneWire reply (Firmata protocol 2.6, "OneWire") */
const ONEWIRE_DATA = 0x73;
/** clean windows without an answer to the re-query after which a release counts anyway */
const RELEASE_UNANSWERED_WINDOWS = 4;

/**
 * firmata.js and johnny-five, loaded on the first connect rather than at import: a site without
 * an I/O board never pays for them (johnny-five alone is ~4 MB of RSS over firmata.js; README,
 * "Footprint"). Loading them also takes out firmata.js's OneWire reply handler: we never use
 * OneWire, so a OneWire reply can only be line noise, and its handler prints "ROM invalid!" with
 * console.error for noise that fails the ROM CRC, past our logger and into the journal as text.
 */
let libs: { Firmata: typeof Firmata; five: typeof five } | undefined;
function firmataLibs(): { Firmata: typeof Firmata; five: typeof five } {
  if (!libs) {
    const F = require('firmata') as typeof Firmata;
    F.SYSEX_RESPONSE[ONEWIRE_DATA] = (board) => {
      log.debug({ bytes: board.buffer.length }, 'OneWire reply from the I/O board ignored (line noise?)');
    };
    libs = { Firmata: F, five: require('johnny-five') as typeof five };
  }
  return libs;
}

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
  /** noise count before the chunk now being parsed: noise around a forged frame counts too */
  chunkNoiseMark: number;
  /** the question asked of the board a window after a trip (see onRelayLevel) */
  tripCheck?: Timer;
  /** a relay release seen but not yet believed (see onRelayLevel) */
  release?: PendingRelease;
}

interface PendingRelease {
  timer: Timer;
  /** monitor.garbage + monitor.resyncs when the window began: any change = noise in the window */
  noiseMark: number;
  /** an inactive report arrived after this window's re-query went out */
  answered: boolean;
  /** windows that ended clean but unanswered */
  unanswered: number;
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
  /** last ADC counts per thermistor: an unchanged reading is not converted again */
  private readonly tempCounts = new Map<string, number>();
  /** what temperatures() returns until a reading changes (it is polled per board per sample) */
  private tempsView?: Readonly<Record<string, number>>;
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

  shedEnables(): Promise<void> {
    for (const id of Object.keys(this.o.enable)) this.setEnable(id, false);
    return this.whenWritten();
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

  /**
   * Thermistor readings (°C) by id. The object is frozen and shared between calls until a
   * reading changes: the control path asks for it per board on every meter sample, so it is not
   * rebuilt each time.
   */
  temperatures(): Record<string, number> {
    return (this.tempsView ??= Object.freeze(Object.fromEntries(this.temps)));
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
    const { Firmata, five } = firmataLibs();
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
    const c: Conn = { link, io, board, monitor, ready: false, lastFrameAt: this.clock.monotonic(), windowFrames: 0, windowGarbage: 0, timers: [], chunkNoiseMark: 0 };
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
    c.chunkNoiseMark = garbage + resyncs;
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
    each(this.o.relay ? [this.o.relay] : [], (r) => this.watchRelay(c, r));
    each(this.o.fans, (f) => {
      this.checkPin(io, f.pwmPin, MODE.PWM, `PWM of fan ${f.id}`);
      io.pinMode(f.pwmPin, MODE.PWM);
      io.pwmWrite(f.pwmPin, Math.round((this.dutyWanted.get(f.id) ?? 0) * (io.RESOLUTION.PWM ?? 255)));
    });
    each(this.o.fans, (f) => this.readAnalog(io, f.tachChannel, `tach of fan ${f.id}`, (raw, max) => this.rpm.set(f.id, (raw / max) * f.fullScaleRpm)));
    each(this.o.thermistors, (t) => this.readAnalog(io, t.channel, `thermistor ${t.id}`, (raw, max) => {
      if (this.tempCounts.get(t.id) === raw) return;
      this.tempCounts.set(t.id, raw);
      this.setTemp(t.id, countsToCelsius(raw, max, t.curve));
    }));
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

  private watchRelay(c: Conn, relay: { pin: number; active: 'low' | 'high'; releaseMs: number }): void {
    const io = c.io;
    // an active-low contact is a dry contact to ground: the board's pull-up holds it high when open
    const mode = relay.active === 'low' ? MODE.PULLUP : MODE.INPUT;
    this.checkPin(io, relay.pin, mode, 'grid relay input');
    io.pinMode(relay.pin, mode);
    const activeLevel = relay.active === 'low' ? 0 : 1;
    io.on(`digital-read-${relay.pin}`, (level: number) => this.onRelayLevel(c, relay, level === activeLevel));
    io.reportDigitalPin(relay.pin, 1);
  }

  /**
   * One report of the relay contact. Firmata has no checksum, so line noise can forge a digital
   * message and with it a contact change either way. The two ways are not equal:
   *  - active (trip): believed at once, on the fast path, in the tick it was parsed. A forged
   *    trip costs two release windows (the board is asked again after one); a missed one could
   *    cost the site its grid connection.
   *  - inactive while tripped (release): believed only once the contact has stayed inactive for
   *    `release_ms` on a clean line (the stream monitor counted no stray byte or broken frame in
   *    the window) and the board, asked again (report-digital on; StandardFirmata answers with
   *    the port's present state), has confirmed it. An active report in the window cancels the
   *    release; noise in the window, or no answer, starts it again with a fresh question. A
   *    board that never answers the question gets its release after RELEASE_UNANSWERED_WINDOWS
   *    clean windows.
   */
  private onRelayLevel(c: Conn, relay: { pin: number; releaseMs: number }, active: boolean): void {
    if (this.conn !== c) return;
    if (active) {
      if (c.release) this.cancelRelease(c);
      if (this.relay) return;
      this.relay = true;
      this.tell('relay', true); // fast path: listeners run before anything else is parsed
      // the board reports a port only when it changes: a forged trip would stand until the
      // contact next moved. So, a window later (the trip's writes long gone), ask again; an
      // "open" answer starts a release like any other.
      c.tripCheck?.cancel();
      c.tripCheck = this.clock.setTimeout(() => {
        if (this.conn === c && this.relay && !c.release) c.io.reportDigitalPin(relay.pin, 1);
      }, relay.releaseMs);
      return;
    }
    if (!this.relay) return;
    if (c.release) {
      c.release.answered = true;
      return;
    }
    this.counters.requests++;
    c.release = { timer: this.releaseTimer(c, relay), noiseMark: c.chunkNoiseMark, answered: false, unanswered: 0 };
    c.io.reportDigitalPin(relay.pin, 1); // the question: the board answers with the port's state
  }

  private releaseTimer(c: Conn, relay: { pin: number; releaseMs: number }): Timer {
    return this.clock.setTimeout(() => {
      const p = c.release;
      if (this.conn !== c || !p) return;
      const clean = this.noise(c) === p.noiseMark;
      if (clean && (p.answered || ++p.unanswered >= RELEASE_UNANSWERED_WINDOWS)) {
        c.release = undefined;
        this.relay = false;
        this.tell('relay', false);
        return;
      }
      if (!clean) log.debug({ pin: relay.pin }, 'relay release seen on a noisy line: asking again');
      p.noiseMark = this.noise(c);
      p.answered = false;
      p.timer = this.releaseTimer(c, relay);
      this.counters.requests++;
      c.io.reportDigitalPin(relay.pin, 1);
    }, relay.releaseMs);
  }

  private cancelRelease(c: Conn): void {
    c.release?.timer.cancel();
    c.release = undefined;
  }

  private noise(c: Conn): number {
    return c.monitor.garbage + c.monitor.resyncs;
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
    this.tempCounts.clear();
    for (const t of this.o.thermistors) this.setTemp(t.id, NaN);
  }

  private setTemp(id: string, c: number): void {
    if (Object.is(this.temps.get(id), c)) return;
    this.temps.set(id, c);
    this.tempsView = undefined;
  }

  private async teardown(c: Conn): Promise<void> {
    for (const t of c.timers) t.cancel();
    c.tripCheck?.cancel();
    this.cancelRelease(c);
    c.link.dispose();
    // johnny-five keeps every Board in a module-global list and arms a plain connect timer;
    // without this each reconnect would leak the old board, parser and transport
    if (c.board.timer) clearTimeout(c.board.timer);
    const cache = firmataLibs().five.Board.cache;
    const i = cache.indexOf(c.board);
    if (i >= 0) cache.splice(i, 1);
    c.board.removeAllListeners();
    if (c.io.reportVersionTimeoutId) clearTimeout(c.io.reportVersionTimeoutId);
    c.io.removeAllListeners();
    c.io.on('error', () => {});
    await c.link.transport.close().catch(() => {});
  }
}
