import { EventEmitter } from 'node:events';
import type Firmata from 'firmata';
import type five from 'johnny-five';
import type { Clock, Timer } from '../../agent/clock';
import { ErrorCode, HashflexError } from '../../agent/errors';
import { newCounters, type FanStatus, type IoBoard, type LinkCounters, type PinFault } from '../../agent/hardware';
import { logger } from '../../agent/log';
import { openTransport, describeSpec } from '../transport';
import { EnableLines } from './enables';
import { FirmataLink } from './link';
import { FirmataStreamMonitor } from './monitor';
import { withDefaults, type IoOptions, type ResolvedIoOptions } from './options';
import { RelayWatch, type RelayHost, type RelayPin } from './relay';
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
  /** handshake done and pins configured: writes go out */
  ready: boolean;
  /**
   * the relay contact has been read on this connection (or there is no relay to read): only now
   * may an enable line go high, and only now is the board 'ready' (see onReady)
   */
  armed: boolean;
  /** pins of this board that cannot do their job, told after 'ready' */
  pinFaults: PinFault[];
  /** shedEnables() callers whose bytes are not handed to the OS yet; a lost connection settles them */
  sheds: (() => void)[];
  lastFrameAt: number;
  windowFrames: number;
  windowGarbage: number;
  timers: Timer[];
  /** noise count before the chunk now being parsed: noise around a forged frame counts too */
  chunkNoiseMark: number;
  relay?: RelayWatch;
}

/**
 * The site's Firmata I/O board (StandardFirmata 2.5+ on an Arduino-class board), through
 * johnny-five's Board over firmata.js over a ByteTransport.
 *
 * Pins are driven through `board.io`, the IO-plugin API johnny-five itself sits on, not through
 * johnny-five's Pin/Sensor/Button classes: those poll their value with a 20 ms setInterval that
 * can never be cancelled (a leak on every reconnect, and up to 20 ms added to the relay trip), and
 * Pin re-sends the pin mode before every write. The relay contact is therefore seen in the same
 * tick its digital message is parsed, and an enable-line write is handed to the link at once.
 * Enable lines are written as whole 8-pin ports (Firmata's digital message), from the levels
 * wanted here: a trip is one message per port, whatever the number of boards.
 *
 * Desired outputs (enable lines, fan duty) are kept here and re-applied after every reconnect,
 * enable lines only once the relay contact has been read on the new connection.
 */
export class FirmataIoBoard extends EventEmitter implements IoBoard {
  readonly counters: LinkCounters = newCounters();
  /** monotonic ms at which the chunk now being parsed arrived (trip-latency start point) */
  rxAt = 0;
  private readonly o: ResolvedIoOptions;
  private conn?: Conn;
  private readonly lines: EnableLines;
  private readonly dutyWanted = new Map<string, number>();
  private readonly rpm = new Map<string, number>();
  private readonly temps = new Map<string, number>();
  /** last ADC counts per thermistor: an unchanged reading is not converted again */
  private readonly tempCounts = new Map<string, number>();
  /** what temperatures() returns until a reading changes (it is polled per board per sample) */
  private tempsView?: Readonly<Record<string, number>>;
  private relay = false;
  /** the relay contact's state as the watch of each connection sees and sets it */
  private readonly relayHost: RelayHost = ((board: FirmataIoBoard) => ({
    get active() { return board.relay; },
    set(active: boolean) {
      board.relay = active;
      board.tell('relay', active);
    },
    asked() { board.counters.requests++; },
  }))(this);
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
    this.lines = new EnableLines(this.o.enable, this.o.relay?.pin);
    for (const f of this.o.fans) this.dutyWanted.set(f.id, 0);
    this.markUnknown();
  }

  get relayActive(): boolean {
    return this.relay;
  }

  /** handshake done, pins configured and the relay contact read */
  get connected(): boolean {
    return this.conn?.armed ?? false;
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
    const port = this.lines.want(boardId, on);
    const c = this.conn;
    // not connected: applied once the relay has been read on the next connection
    if (port === undefined || !c?.ready || (on && !c.armed)) return;
    this.writeEnablePort(c, port);
  }

  /**
   * The trip path's half on this board: every enable line low, one digital message per port
   * that holds one, written whatever the lines were (a line the driver thinks low may not be:
   * a forged or lost frame). Resolves when the link has handed every one of those messages to
   * the OS (the write callback: the bytes are in the kernel's tty buffer, as the site's `curtail`
   * ack requires: issue 17), or when the connection is lost first; at once when not connected.
   * Never rejects. Unlike whenWritten() it does not wait for writes that are not its own.
   */
  shedEnables(): Promise<void> {
    this.lines.wantAllLow();
    const c = this.conn;
    if (!c?.ready || this.lines.portCount === 0) return Promise.resolve();
    return new Promise((resolve) => {
      let left = this.lines.portCount;
      const settle = () => {
        const i = c.sheds.indexOf(settle);
        if (i >= 0) c.sheds.splice(i, 1);
        resolve();
      };
      c.sheds.push(settle);
      for (const port of this.lines.ports) this.writeEnablePort(c, port, () => { if (--left === 0) settle(); });
    });
  }

  setFanDuty(fanId: string, duty: number): void {
    const fan = this.o.fans.find((f) => f.id === fanId);
    if (!fan || !Number.isFinite(duty)) return;
    const d = Math.min(1, Math.max(0, duty));
    const same = this.dutyWanted.get(fanId) === d;
    this.dutyWanted.set(fanId, d);
    const c = this.conn;
    if (!c?.ready || same) return; // a control loop re-sends its duty every cycle; the board keeps it
    // a pin fault, told already; writing it anyway would make firmata.js throw for a pin the board lacks
    if (c.pinFaults.some((f) => f.function === 'fan' && f.id === fanId)) return;
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
    const c: Conn = {
      link, io, board, monitor, ready: false, armed: false, pinFaults: [], sheds: [],
      lastFrameAt: this.clock.monotonic(), windowFrames: 0, windowGarbage: 0, timers: [], chunkNoiseMark: 0,
    };
    this.conn = c;
    c.timers.push(this.clock.setTimeout(() => {
      if (c.armed || this.conn !== c) return;
      const what = c.ready ? `the relay input (pin ${this.o.relay?.pin}) not reported` : 'no Firmata handshake';
      this.lose(new HashflexError(`${describeSpec(this.o.serial)}: ${what} in ${this.o.handshakeMs} ms`, ErrorCode.DeviceUnresponsive, { timeout: true }));
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

  /**
   * Handshake done: configure every pin, then wait for the relay contact's first report on this
   * connection before the board counts as ready (issue 18). Until then no enable line goes high:
   * after a reconnect the contact may have closed meanwhile, and re-applying the lines wanted
   * high first would raise them for the round trip it takes to learn so. Ports holding only
   * lines wanted low are written at once (that is every port at start-up and after an io-lost
   * trip); a port with a line wanted high (io.on_fault: hold) is left as the board holds it
   * until then, so a board that kept its outputs through a link blip (no DTR reset over TCP)
   * is neither raised nor glitched off.
   *
   * A pin this board cannot use is a fault of that function, reported ('pin-fault') but not
   * fatal: the enable lines and the relay must keep working when, say, one fan's PWM pin is
   * wrong. Safety pins first.
   */
  private onReady(c: Conn): void {
    if (this.conn !== c) return;
    const io = c.io;
    const faults: PinFault[] = [];
    const each = <T>(items: T[], fn: PinFault['function'], id: (x: T) => string, setup: (x: T) => void): boolean => {
      let ok = true;
      for (const x of items) {
        try {
          setup(x);
        } catch (e) {
          ok = false;
          faults.push({ function: fn, id: id(x), error: (e as Error).message });
        }
      }
      return ok;
    };
    each(Object.entries(this.o.enable), 'enable', ([id]) => id, ([id, pin]) => {
      this.checkPin(io, pin, MODE.OUTPUT, `enable line of ${id}`);
      io.pinMode(pin, MODE.OUTPUT);
    });
    const relay = this.o.relay;
    const watching = relay !== undefined && each([relay], 'relay', () => 'relay', (r) => this.watchRelay(c, r));
    each(this.o.fans, 'fan', (f) => f.id, (f) => {
      this.checkPin(io, f.pwmPin, MODE.PWM, `PWM of fan ${f.id}`);
      io.pinMode(f.pwmPin, MODE.PWM);
      io.pwmWrite(f.pwmPin, Math.round((this.dutyWanted.get(f.id) ?? 0) * (io.RESOLUTION.PWM ?? 255)));
    });
    each(this.o.fans, 'tach', (f) => f.id, (f) => this.readAnalog(io, f.tachChannel, `tach of fan ${f.id}`, (raw, max) => this.rpm.set(f.id, (raw / max) * f.fullScaleRpm)));
    // an unusable channel gets no listener: that thermistor reads NaN (unknown), as while disconnected
    each(this.o.thermistors, 'thermistor', (t) => t.id, (t) => this.readAnalog(io, t.channel, `thermistor ${t.id}`, (raw, max) => {
      if (this.tempCounts.get(t.id) === raw) return;
      this.tempCounts.set(t.id, raw);
      this.setTemp(t.id, countsToCelsius(raw, max, t.curve));
    }));
    c.ready = true;
    c.pinFaults = faults;
    for (const port of this.lines.ports) if (!this.lines.wantsHigh(port)) this.writeEnablePort(c, port);
    c.lastFrameAt = this.clock.monotonic();
    const tick = Math.max(10, Math.floor(this.o.watchdogMs / 3));
    c.timers.push(this.clock.setInterval(() => this.watchdog(c, tick), tick));
    if (!watching) this.arm(c);
  }

  /** the relay contact is known on this connection: enable lines as wanted, and the board is ready */
  private arm(c: Conn): void {
    if (this.conn !== c || c.armed) return;
    c.armed = true;
    for (const port of this.lines.ports) if (this.lines.wantsHigh(port)) this.writeEnablePort(c, port);
    if (this.everReady) this.counters.reconnects++;
    this.everReady = true;
    this.inOutage = false;
    this.attempt = 0;
    log.info({ device: describeSpec(this.o.serial), firmware: c.io.firmware.name, version: c.io.version }, 'I/O board ready');
    this.firstReady?.();
    this.firstReady = undefined;
    this.tell('ready');
    if (c.pinFaults.length === 0) return;
    // for doctor, which reports it; the site hears of each pin on its own, right after 'ready'
    this.lastError = new HashflexError(`I/O board pins: ${c.pinFaults.map((f) => f.error).join('; ')}`, ErrorCode.DeviceFault);
    log.error({ problems: c.pinFaults }, 'I/O board pins not usable');
    for (const f of c.pinFaults) this.tell('pin-fault', f);
  }

  /** one port's enable lines as wanted (none high before the connection is armed), to the link */
  private writeEnablePort(c: Conn, port: number, written?: () => void): void {
    this.counters.requests++;
    c.link.write(this.lines.message(c.io, port, c.armed), written);
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

  private watchRelay(c: Conn, relay: RelayPin): void {
    // an active-low contact is a dry contact to ground: the board's pull-up holds it high when open
    const mode = relay.active === 'low' ? MODE.PULLUP : MODE.INPUT;
    this.checkPin(c.io, relay.pin, mode, 'grid relay input');
    const noise = () => c.monitor.garbage + c.monitor.resyncs;
    // the first report of this connection: what the contact is is known (and told) now
    c.relay = new RelayWatch(c.io, relay, this.clock, this.relayHost, noise, () => c.chunkNoiseMark, () => this.arm(c));
    c.relay.start(mode);
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
  private tell(event: 'relay' | 'ready' | 'fault' | 'pin-fault', arg?: unknown): void {
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
    c.relay?.stop();
    // the bytes of a shed in flight may never be written now: the board is gone, its callers go on
    for (const settle of c.sheds.splice(0)) settle();
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
