import { EventEmitter } from 'node:events';
import {
  F, MODE, HostParser, encodeAnalog, encodeAnalogMapping, encodeCapabilities, encodeDigitalPort,
  encodeFirmware, encodePinState, encodeVersion, type HostMessage,
} from './firmata-codec';
import { AMBIENT_C, type Plant } from './plant';
import type { SimWire } from './wire';

/**
 * A StandardFirmata 2.5 board (Arduino Mega 2560 pin-out: 70 pins, A0-A15 on pins 54-69, PWM on
 * 2-13 and 44-46) on the far side of a SimWire, wired to the plant:
 *   enable pins (OUTPUT)  -> plant.boards.get(id).enabled
 *   fan PWM pins          -> plant.fans.get(id).duty        (duty = value / 255)
 *   fan tach channels     <- fan rpm through an F/V converter (full scale = tachFullScaleRpm)
 *   thermistor channels   <- board temperature through a 10 kΩ / B3950 NTC divider
 *   relay pin (INPUT or PULLUP) <- plant.relayActive at the configured active level
 *
 * It keeps its own copy of the thermistor physics (never the driver's), so a wrong conversion
 * in the agent shows up as a wrong temperature instead of cancelling out.
 */
export interface SimFirmataOptions {
  wire: SimWire;
  plant: Plant;
  /** board id -> enable pin */
  enable: Record<string, number>;
  fans: { id: string; pwm_pin: number; tach_pin: string | number; tach_full_scale_rpm?: number }[];
  relayPin?: number;
  /** level of the relay pin while plant.relayActive, default 'low' (dry contact to ground) */
  relayActive?: 'low' | 'high';
  /** thermistors; without boardId they read ambient */
  thermistors?: { id: string; pin: string | number; boardId?: string }[];
  /** how often the plant's relay contact is looked at (ms), default 10; poke() reports at once */
  relayPollMs?: number;
  /**
   * analog inputs the board has, A0 up, default 16 (a Mega); fewer make a board whose missing
   * channels its capability and analog-mapping replies do not list (a pin-fault test's board)
   */
  analogInputs?: number;
}

/** Switchable misbehaviour, as a test or scenario turns it on (zwave-js "behaviours"). */
export interface SimFirmataFaults {
  /** the sketch hangs: nothing answered, nothing reported, outputs hold */
  silence: boolean;
  /** the line is noise (wrong baud, broken cable): random bytes instead of messages */
  garbage: boolean;
  /** pull the USB cable: the agent's port closes; outputs float (enables low, fans full) */
  unplug(): Promise<void>;
  /** plug it back in: the board resets and answers a fresh handshake */
  replug(): Promise<void>;
}

export interface SimFirmata extends EventEmitter {
  readonly faults: SimFirmataFaults;
  /** report the relay contact now instead of at the next poll */
  poke(): void;
  /** level of a pin as the board drives it (outputs) or reads it (inputs) */
  pinLevel(pin: number): number;
  close(): Promise<void>;
}

const TOTAL_PINS = 70;
const FIRST_ANALOG_PIN = 54;
const PWM_PINS = new Set([2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 44, 45, 46]);
const ADC_MAX = 1023; // 10-bit ADC, ATmega2560 datasheet §26
const PWM_MAX = 255; // 8-bit timers in analogWrite
const DEFAULT_TACH_FULL_SCALE = 10_000;
// same physical part the driver defaults to: 10 kΩ at 25 °C, B 3950, 10 kΩ series resistor
const NTC = { r0: 10_000, t0K: 298.15, beta: 3950, rSeries: 10_000 };

function analogChannel(pin: string | number): number {
  const ch = typeof pin === 'number' ? pin : Number(/^A(\d+)$/i.exec(pin)?.[1]);
  if (!Number.isInteger(ch) || ch < 0 || ch > 15) throw new Error(`sim firmata: bad analog pin ${pin}`);
  return ch;
}

function ntcCounts(tC: number): number {
  const r = NTC.r0 * Math.exp(NTC.beta * (1 / (tC + 273.15) - 1 / NTC.t0K));
  return Math.round((ADC_MAX * r) / (r + NTC.rSeries));
}

export function startSimFirmata(opts: SimFirmataOptions): SimFirmata {
  return new SimFirmataBoard(opts);
}

class SimFirmataBoard extends EventEmitter implements SimFirmata {
  readonly faults: SimFirmataFaults;
  private readonly parser = new HostParser();
  private mode = new Array<number>(TOTAL_PINS).fill(MODE.OUTPUT);
  private latch = new Array<number>(TOTAL_PINS).fill(0);
  private readonly reportAnalog = new Set<number>();
  private readonly reportDigital = new Set<number>();
  private readonly lastPort = new Map<number, number>();
  private samplingMs = 19; // StandardFirmata's default samplingInterval
  private sampler?: NodeJS.Timeout;
  private readonly relayPoll: NodeJS.Timeout;
  private readonly analogSource = new Map<number, () => number>();
  private readonly enableByPin = new Map<number, string>();
  private readonly fanByPin = new Map<number, string>();
  private closed = false;
  private unplugged = false;

  constructor(private readonly o: SimFirmataOptions) {
    super();
    const self = this;
    let silence = false;
    let garbage = false;
    this.faults = {
      get silence() { return silence; },
      set silence(v: boolean) { silence = v; },
      get garbage() { return garbage; },
      set garbage(v: boolean) { garbage = v; },
      unplug: () => self.unplug(),
      replug: () => self.replug(),
    };
    for (const [id, pin] of Object.entries(o.enable)) this.enableByPin.set(pin, id);
    for (const f of o.fans) {
      if (!o.plant.fans.has(f.id)) o.plant.fans.set(f.id, { id: f.id, duty: 0, rpm: 0, failed: false });
      this.fanByPin.set(f.pwm_pin, f.id);
      const full = f.tach_full_scale_rpm ?? DEFAULT_TACH_FULL_SCALE;
      this.analogSource.set(analogChannel(f.tach_pin), () => ((o.plant.fans.get(f.id)?.rpm ?? 0) / full) * ADC_MAX);
    }
    for (const t of o.thermistors ?? []) {
      this.analogSource.set(analogChannel(t.pin), () => ntcCounts((t.boardId ? o.plant.boards.get(t.boardId)?.tempC : undefined) ?? AMBIENT_C));
    }
    this.reset();
    o.wire.on('data', this.onData);
    o.wire.on('connect', this.onConnect);
    this.relayPoll = setInterval(() => this.checkDigital(), o.relayPollMs ?? 10);
    this.restartSampler();
  }

  poke(): void {
    this.checkDigital();
  }

  pinLevel(pin: number): number {
    if (pin === this.o.relayPin) return this.relayLevel();
    return this.latch[pin] ?? 0;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.relayPoll);
    clearInterval(this.sampler);
    this.o.wire.off('data', this.onData);
    this.o.wire.off('connect', this.onConnect);
    await this.o.wire.close();
  }

  private readonly onData = (chunk: Buffer) => {
    if (this.unplugged || this.faults.silence || this.faults.garbage) return;
    this.parser.feed(chunk, (m, raw) => {
      this.emit('message', m, Buffer.from(raw));
      this.handle(m);
    });
  };

  /** a new TCP client is a new serial session; the sketch keeps running (no DTR reset over TCP) */
  private readonly onConnect = () => {
    this.parser.clear();
    this.lastPort.clear();
  };

  private send(bytes: Buffer): void {
    if (this.unplugged || this.faults.silence) return;
    if (this.faults.garbage) return;
    this.o.wire.write(bytes);
  }

  private handle(m: HostMessage): void {
    switch (m.kind) {
      case 'version': return this.send(encodeVersion());
      case 'reset': return this.reset();
      case 'pin-mode': return this.setMode(m.pin, m.mode);
      case 'pin-value': return this.writePin(m.pin, m.value ? 1 : 0);
      case 'digital':
        for (let i = 0; i < 8; i++) this.writePin(m.port * 8 + i, (m.mask >> i) & 1);
        return;
      case 'analog': return this.writePwm(m.pin, m.value);
      case 'report-analog':
        if (m.on) {
          this.reportAnalog.add(m.channel);
          this.send(encodeAnalog(m.channel, this.readAnalog(m.channel))); // StandardFirmata answers at once
        } else this.reportAnalog.delete(m.channel);
        return;
      case 'report-digital':
        if (m.on) {
          this.reportDigital.add(m.port);
          this.lastPort.delete(m.port); // forces a report of the port's present state
          this.checkDigital();
        } else this.reportDigital.delete(m.port);
        return;
      case 'sysex': return this.sysex(m.command, m.data);
    }
  }

  private sysex(cmd: number, data: number[]): void {
    switch (cmd) {
      case F.QUERY_FIRMWARE: return this.send(encodeFirmware());
      case F.CAPABILITY_QUERY: return this.send(encodeCapabilities(this.capabilities()));
      case F.ANALOG_MAPPING_QUERY:
        return this.send(encodeAnalogMapping(Array.from({ length: TOTAL_PINS }, (_, p) => (this.isAnalog(p) ? p - FIRST_ANALOG_PIN : 0x7f))));
      case F.PIN_STATE_QUERY: {
        const pin = data[0] ?? 0;
        return this.send(encodePinState(pin, this.mode[pin] ?? 0, this.latch[pin] ?? 0));
      }
      case F.EXTENDED_ANALOG: {
        const [pin, ...v] = data;
        return this.writePwm(pin, v.reduce((acc, b, i) => acc | ((b & 0x7f) << (7 * i)), 0));
      }
      case F.SAMPLING_INTERVAL: {
        // StandardFirmata clamps to MINIMUM_SAMPLING_INTERVAL (1 ms); the sim keeps >= 10 ms for CPU
        this.samplingMs = Math.max(10, (data[0] ?? 0) | ((data[1] ?? 0) << 7));
        return this.restartSampler();
      }
    }
  }

  private capabilities(): { mode: number; bits: number }[][] {
    return Array.from({ length: TOTAL_PINS }, (_, p) => {
      if (p < 2) return []; // pins 0/1 carry the serial link itself (Boards.h IS_PIN_DIGITAL)
      const modes: { mode: number; bits: number }[] = [{ mode: MODE.INPUT, bits: 1 }, { mode: MODE.OUTPUT, bits: 1 }, { mode: MODE.PULLUP, bits: 1 }];
      if (this.isAnalog(p)) modes.push({ mode: MODE.ANALOG, bits: 10 });
      if (PWM_PINS.has(p)) modes.push({ mode: MODE.PWM, bits: 8 });
      return modes;
    });
  }

  private isAnalog(pin: number): boolean {
    return pin >= FIRST_ANALOG_PIN && pin < FIRST_ANALOG_PIN + (this.o.analogInputs ?? 16);
  }

  private setMode(pin: number, mode: number): void {
    if (pin >= TOTAL_PINS) return;
    this.mode[pin] = mode;
    // leaving PWM mode drives the pin low (StandardFirmata setPinModeCallback)
    if (mode !== MODE.PWM) this.applyFan(pin, mode === MODE.OUTPUT ? this.latch[pin] * PWM_MAX : 0);
    if (mode === MODE.OUTPUT) this.writePin(pin, this.latch[pin]);
  }

  private writePin(pin: number, level: number): void {
    if (pin >= TOTAL_PINS) return;
    // StandardFirmata 2.5 digitalWriteCallback: a 1 written to an INPUT pin turns its pull-up on
    // (Arduino 1.0 habit kept for compatibility); other non-output pins ignore writes
    if (this.mode[pin] === MODE.INPUT && level === 1) this.mode[pin] = MODE.PULLUP;
    if (this.mode[pin] !== MODE.OUTPUT) return;
    this.latch[pin] = level;
    const id = this.enableByPin.get(pin);
    const board = id === undefined ? undefined : this.o.plant.boards.get(id);
    if (board) board.enabled = level === 1;
    this.applyFan(pin, level * PWM_MAX);
  }

  private writePwm(pin: number | undefined, value: number): void {
    if (pin === undefined || pin >= TOTAL_PINS || this.mode[pin] !== MODE.PWM) return;
    this.applyFan(pin, Math.min(PWM_MAX, value));
  }

  private applyFan(pin: number, value: number): void {
    const id = this.fanByPin.get(pin);
    const fan = id === undefined ? undefined : this.o.plant.fans.get(id);
    if (fan) fan.duty = value / PWM_MAX;
  }

  private readAnalog(ch: number): number {
    const v = this.analogSource.get(ch)?.() ?? 0;
    return Math.max(0, Math.min(ADC_MAX, Math.round(v)));
  }

  private relayLevel(): number {
    const activeLevel = (this.o.relayActive ?? 'low') === 'low' ? 0 : 1;
    if (this.o.plant.relayActive) return activeLevel;
    // an open active-high contact with the pin's pull-up on reads high: stuck "active"
    if (activeLevel === 1 && this.o.relayPin !== undefined && this.mode[this.o.relayPin] === MODE.PULLUP) return 1;
    return 1 - activeLevel;
  }

  /** StandardFirmata's checkDigitalInputs: send a reported port when its input bits change */
  private checkDigital(): void {
    for (const port of this.reportDigital) {
      let mask = 0;
      for (let i = 0; i < 8; i++) {
        const pin = port * 8 + i;
        const m = this.mode[pin];
        if (m !== MODE.INPUT && m !== MODE.PULLUP) continue;
        const level = pin === this.o.relayPin ? this.relayLevel() : m === MODE.PULLUP ? 1 : 0;
        mask |= level << i;
      }
      if (this.lastPort.get(port) === mask) continue;
      this.lastPort.set(port, mask);
      this.send(encodeDigitalPort(port, mask));
    }
  }

  private restartSampler(): void {
    clearInterval(this.sampler);
    if (this.closed) return;
    this.sampler = setInterval(() => {
      if (this.faults.garbage && !this.unplugged) {
        this.o.wire.write(Buffer.from(Array.from({ length: 48 }, () => Math.floor(Math.random() * 256))));
        return;
      }
      for (const ch of this.reportAnalog) this.send(encodeAnalog(ch, this.readAnalog(ch)));
    }, this.samplingMs);
  }

  /** power-on / systemReset state: every pin an output driven low, nothing reported */
  private reset(): void {
    this.mode.fill(MODE.OUTPUT);
    this.latch.fill(0);
    this.reportAnalog.clear();
    this.reportDigital.clear();
    this.lastPort.clear();
  }

  private async unplug(): Promise<void> {
    this.unplugged = true;
    // a board without power drives nothing: enable lines fall to their pull-downs (boards off)
    // and 4-wire fans run at full speed with their PWM input open (Intel 4-wire fan spec rev 1.3 §2.1.3)
    for (const id of this.enableByPin.values()) {
      const b = this.o.plant.boards.get(id);
      if (b) b.enabled = false;
    }
    for (const id of this.fanByPin.values()) {
      const f = this.o.plant.fans.get(id);
      if (f) f.duty = 1;
    }
    await this.o.wire.unplug();
  }

  private async replug(): Promise<void> {
    this.reset();
    this.samplingMs = 19;
    this.restartSampler();
    await this.o.wire.plug();
    this.unplugged = false;
  }
}
