import { EventEmitter } from 'node:events';
import net from 'node:net';
import { ErrorCode, HashflexError } from '../../agent/errors';
import { parseHostPort, type ByteTransport } from './types';

/** Raw serial bytes over TCP, as a ser2net or serial device server gives them. */
export class TcpTransport extends EventEmitter implements ByteTransport {
  readonly description: string;
  private closing = false;
  private open = true;

  private constructor(private readonly socket: net.Socket, hostPort: string) {
    super();
    this.description = `tcp://${hostPort}`;
    socket.setNoDelay(true); // small frames on a control path: never wait for Nagle
    socket.on('data', (chunk: Buffer) => this.emit('data', chunk));
    socket.on('error', () => { /* reported by 'close' */ });
    socket.on('close', () => {
      this.open = false;
      this.emit('close', this.closing
        ? undefined
        : new HashflexError(`${this.description} closed by peer`, ErrorCode.TransportClosed, { disconnected: true }));
    });
  }

  static open(hostPort: string, timeoutMs = 3000): Promise<TcpTransport> {
    const { host, port } = parseHostPort(hostPort);
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new HashflexError(`connect ${hostPort}: timed out`, ErrorCode.TransportOpenFailed, { timeout: true }));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new TcpTransport(socket, hostPort));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(new HashflexError(`connect ${hostPort}: ${err.message}`, ErrorCode.TransportOpenFailed, { disconnected: true }, { cause: err }));
      });
    });
  }

  /** the underlying socket, for libraries (firmata.js) that want a stream */
  get raw(): net.Socket {
    return this.socket;
  }

  get isOpen(): boolean {
    return this.open;
  }

  write(bytes: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!this.open) {
        reject(new HashflexError(`${this.description} is closed`, ErrorCode.TransportClosed, { disconnected: true }));
        return;
      }
      this.socket.write(bytes, (err) => {
        if (err) reject(new HashflexError(`write to ${this.description}: ${err.message}`, ErrorCode.TransportClosed, { disconnected: true }));
        else resolve();
      });
    });
  }

  close(): Promise<void> {
    if (!this.open) return Promise.resolve();
    this.closing = true;
    return new Promise((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.end();
      this.socket.destroySoon();
    });
  }
}
