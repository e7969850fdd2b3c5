/**
 * Firmata protocol pieces the simulated board needs (Firmata protocol 2.6,
 * github.com/firmata/protocol protocol.md, and StandardFirmata 2.5.x). Pure functions: a parser
 * for what the host sends, encoders for what the board answers.
 */
export const F = {
  DIGITAL_MESSAGE: 0x90,
  ANALOG_MESSAGE: 0xe0,
  REPORT_ANALOG: 0xc0,
  REPORT_DIGITAL: 0xd0,
  SET_PIN_MODE: 0xf4,
  SET_DIGITAL_PIN_VALUE: 0xf5,
  REPORT_VERSION: 0xf9,
  SYSTEM_RESET: 0xff,
  START_SYSEX: 0xf0,
  END_SYSEX: 0xf7,
  // sysex commands
  EXTENDED_ANALOG: 0x6f,
  CAPABILITY_QUERY: 0x6b,
  CAPABILITY_RESPONSE: 0x6c,
  ANALOG_MAPPING_QUERY: 0x69,
  ANALOG_MAPPING_RESPONSE: 0x6a,
  PIN_STATE_QUERY: 0x6d,
  PIN_STATE_RESPONSE: 0x6e,
  QUERY_FIRMWARE: 0x79,
  SAMPLING_INTERVAL: 0x7a,
} as const;

export const MODE = { INPUT: 0x00, OUTPUT: 0x01, ANALOG: 0x02, PWM: 0x03, PULLUP: 0x0b } as const;

/** StandardFirmata 2.5 reports protocol 2.5 and firmware "StandardFirmata.ino" 2.5 */
export const PROTOCOL_VERSION = [2, 5] as const;
export const FIRMWARE_NAME = 'StandardFirmata.ino';

export type HostMessage =
  | { kind: 'digital'; port: number; mask: number }
  | { kind: 'analog'; pin: number; value: number }
  | { kind: 'report-analog'; channel: number; on: boolean }
  | { kind: 'report-digital'; port: number; on: boolean }
  | { kind: 'pin-mode'; pin: number; mode: number }
  | { kind: 'pin-value'; pin: number; value: number }
  | { kind: 'version' }
  | { kind: 'reset' }
  | { kind: 'sysex'; command: number; data: number[] };

const THREE_BYTE = new Set([F.DIGITAL_MESSAGE, F.ANALOG_MESSAGE, F.SET_PIN_MODE, F.SET_DIGITAL_PIN_VALUE]);

/**
 * Incremental host -> board parser. Like the firmware, it drops data bytes that belong to no
 * message and abandons a message cut short by a new status byte; `dropped` counts both.
 */
export class HostParser {
  dropped = 0;
  private buf: number[] = [];

  feed(chunk: Uint8Array, out: (m: HostMessage, raw: number[]) => void): void {
    for (const b of chunk) {
      if (b & 0x80) {
        if (this.buf[0] === F.START_SYSEX && b === F.END_SYSEX) {
          const raw = [...this.buf, b];
          this.buf = [];
          out({ kind: 'sysex', command: raw[1] ?? 0, data: raw.slice(2, -1) }, raw);
          continue;
        }
        this.dropped += this.buf.length;
        this.buf = [b];
        if (b === F.REPORT_VERSION || b === F.SYSTEM_RESET) {
          this.buf = [];
          out(b === F.REPORT_VERSION ? { kind: 'version' } : { kind: 'reset' }, [b]);
        }
        continue;
      }
      if (this.buf.length === 0) {
        this.dropped++;
        continue;
      }
      this.buf.push(b);
      const head = this.buf[0];
      const cmd = head < 0xf0 ? head & 0xf0 : head;
      if (cmd === F.REPORT_ANALOG || cmd === F.REPORT_DIGITAL) {
        if (this.buf.length === 2) this.emit(out, cmd, head & 0x0f);
      } else if (THREE_BYTE.has(cmd as never)) {
        if (this.buf.length === 3) this.emit(out, cmd, head & 0x0f);
      } else if (head !== F.START_SYSEX) {
        this.dropped += this.buf.length;
        this.buf = [];
      }
    }
  }

  /** forget a partial message (a new session on the line) */
  clear(): void {
    this.buf = [];
  }

  private emit(out: (m: HostMessage, raw: number[]) => void, cmd: number, low: number): void {
    const raw = this.buf;
    this.buf = [];
    const v14 = raw[1] | (raw[2] << 7);
    switch (cmd) {
      case F.DIGITAL_MESSAGE: return out({ kind: 'digital', port: low, mask: v14 }, raw);
      case F.ANALOG_MESSAGE: return out({ kind: 'analog', pin: low, value: v14 }, raw);
      case F.REPORT_ANALOG: return out({ kind: 'report-analog', channel: low, on: raw[1] !== 0 }, raw);
      case F.REPORT_DIGITAL: return out({ kind: 'report-digital', port: low, on: raw[1] !== 0 }, raw);
      case F.SET_PIN_MODE: return out({ kind: 'pin-mode', pin: raw[1], mode: raw[2] }, raw);
      case F.SET_DIGITAL_PIN_VALUE: return out({ kind: 'pin-value', pin: raw[1], value: raw[2] }, raw);
    }
  }
}

const lsb = (v: number) => v & 0x7f;
const msb = (v: number) => (v >> 7) & 0x7f;

export function encodeVersion(): Buffer {
  return Buffer.from([F.REPORT_VERSION, ...PROTOCOL_VERSION]);
}

/** firmware name as 7-bit pairs (LSB, MSB) per the protocol's "Query firmware name and version" */
export function encodeFirmware(): Buffer {
  const name = [...Buffer.from(FIRMWARE_NAME, 'ascii')].flatMap((c) => [lsb(c), msb(c)]);
  return Buffer.from([F.START_SYSEX, F.QUERY_FIRMWARE, ...PROTOCOL_VERSION, ...name, F.END_SYSEX]);
}

export function encodeAnalog(channel: number, value: number): Buffer {
  const v = Math.max(0, Math.min(0x3fff, Math.round(value)));
  return Buffer.from([F.ANALOG_MESSAGE | (channel & 0x0f), lsb(v), msb(v)]);
}

export function encodeDigitalPort(port: number, mask: number): Buffer {
  return Buffer.from([F.DIGITAL_MESSAGE | (port & 0x0f), lsb(mask), msb(mask)]);
}

/** capability response: per pin, (mode, resolution bits) pairs, 0x7F after each pin */
export function encodeCapabilities(pins: { mode: number; bits: number }[][]): Buffer {
  const body = pins.flatMap((modes) => [...modes.flatMap((m) => [m.mode, m.bits]), 0x7f]);
  return Buffer.from([F.START_SYSEX, F.CAPABILITY_RESPONSE, ...body, F.END_SYSEX]);
}

/** analog mapping: per pin its analog channel, or 0x7F for a pin with no analog input */
export function encodeAnalogMapping(channels: number[]): Buffer {
  return Buffer.from([F.START_SYSEX, F.ANALOG_MAPPING_RESPONSE, ...channels, F.END_SYSEX]);
}

export function encodePinState(pin: number, mode: number, state: number): Buffer {
  return Buffer.from([F.START_SYSEX, F.PIN_STATE_RESPONSE, pin, mode, lsb(state), msb(state), F.END_SYSEX]);
}
