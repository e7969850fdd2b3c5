import { EventEmitter } from 'node:events';
import { SerialPort } from 'serialport';
import { ErrorCode, HashflexError } from '../../agent/errors';
import type { ByteTransport } from './types';

/** A local serial port (or pty). Ports are always named explicitly: SerialPort.list() needs udev. */
export class SerialTransport extends EventEmitter implements ByteTransport {
  readonly description: string;
  private closing = false;

  private constructor(private readonly port: SerialPort) {
    super();
    this.description = `${port.path}@${port.baudRate}`;
    port.on('data', (chunk: Buffer) => this.emit('data', chunk));
    port.on('error', () => { /* a 'close' with the error follows; reported there */ });
    port.on('close', (err?: Error) => {
      const gone = !this.closing;
      this.emit('close', gone
        ? new HashflexError(`${this.description} closed: ${err?.message ?? 'disconnected'}`, ErrorCode.TransportClosed, { disconnected: true })
        : undefined);
    });
  }

  static open(path: string, baudRate = 115200): Promise<SerialTransport> {
    return new Promise((resolve, reject) => {
      const port = new SerialPort({ path, baudRate, autoOpen: false });
      port.open((err) => {
        if (err) {
          reject(new HashflexError(`cannot open ${path}: ${err.message}`, ErrorCode.TransportOpenFailed, { disconnected: true }, { cause: err }));
        } else {
          resolve(new SerialTransport(port));
        }
      });
    });
  }

  /** the underlying port, for libraries (firmata.js) that want a serialport instance */
  get raw(): SerialPort {
    return this.port;
  }

  get isOpen(): boolean {
    return this.port.isOpen;
  }

  write(bytes: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.port.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), (err) => {
        if (err) reject(new HashflexError(`write to ${this.description}: ${err.message}`, ErrorCode.TransportClosed, { disconnected: true }));
        else resolve();
      });
    });
  }

  close(): Promise<void> {
    if (!this.port.isOpen) return Promise.resolve();
    this.closing = true;
    return new Promise((resolve) => this.port.close(() => resolve()));
  }
}
