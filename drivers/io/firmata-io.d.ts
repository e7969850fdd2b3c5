/**
 * Minimal local typings for the parts of firmata.js (2.3, via firmata-io) and johnny-five (2.1)
 * this driver uses. Neither package ships types; only what drivers/io calls is declared, so a
 * wrong call is a compile error rather than a silent `any`.
 */
declare module 'firmata' {
  import { EventEmitter } from 'node:events';

  /** what firmata.js needs from a transport: serialport-like write with callback, and events */
  export interface FirmataTransport extends EventEmitter {
    write(data: Buffer, callback?: (err?: Error | null) => void): unknown;
  }

  export interface FirmataPin {
    supportedModes: number[];
    mode?: number;
    value: number;
    report: number;
    analogChannel: number;
  }

  export interface FirmataOptions {
    /** ms to wait for an unsolicited version report before asking for one (default 5000) */
    reportVersionTimeout?: number;
    /** analog sampling interval sent to the board after the firmware report (ms) */
    samplingInterval?: number;
    skipCapabilities?: boolean;
  }

  class Firmata extends EventEmitter {
    constructor(transport: FirmataTransport, options?: FirmataOptions, callback?: (err?: Error) => void);
    readonly MODES: { INPUT: 0; OUTPUT: 1; ANALOG: 2; PWM: 3; SERVO: 4; PULLUP: 11 };
    readonly RESOLUTION: { ADC: number | null; PWM: number | null; DAC: number | null };
    readonly HIGH: 1;
    readonly LOW: 0;
    isReady: boolean;
    versionReceived: boolean;
    pins: FirmataPin[];
    analogPins: number[];
    /** firmata.js's image of each 8-pin port, written whole by digitalWrite */
    ports: number[];
    version: { major?: number; minor?: number };
    firmware: { name?: string; version?: { major: number; minor: number } };
    transport: FirmataTransport;
    reportVersionTimeoutId?: ReturnType<typeof setTimeout>;
    pinMode(pin: number, mode: number): void;
    digitalWrite(pin: number, value: 0 | 1, enqueue?: boolean): void;
    flushDigitalPorts(): void;
    pwmWrite(pin: number, value: number): void;
    analogWrite(pin: number, value: number): void;
    reportAnalogPin(channel: number, on: 0 | 1): void;
    reportDigitalPin(pin: number, on: 0 | 1): void;
    setSamplingInterval(ms: number): void;
    /** the message being parsed (sysex handlers read it) */
    buffer: number[];
    /** sysex reply handlers by command byte, shared by every instance (firmata.js's own table) */
    static SYSEX_RESPONSE: Record<number, (board: Firmata) => void>;
  }
  export = Firmata;
}

declare module 'johnny-five' {
  import { EventEmitter } from 'node:events';

  export interface BoardOptions {
    /** an IO plugin instance (firmata.js) that already owns its transport */
    io: EventEmitter;
    id?: string;
    repl?: boolean;
    debug?: boolean;
    /** when false, johnny-five installs no process SIGINT handler */
    sigint?: boolean;
    /** ms between the io 'connect' and 'ready' before johnny-five emits 'error' (default 10000) */
    timeout?: number;
  }

  export class Board extends EventEmitter {
    constructor(options: BoardOptions);
    readonly id: string;
    readonly isReady: boolean;
    readonly io: import('firmata');
    /** johnny-five's connect watchdog (a plain setTimeout), cleared on 'ready' */
    timer: ReturnType<typeof setTimeout> | null;
    /** module-global registry of every Board ever constructed */
    static readonly cache: Board[];
  }
}
