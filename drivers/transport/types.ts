import type { EventEmitter } from 'node:events';

/**
 * The smallest byte link: what a serial port, a TCP socket (ser2net, a serial device server)
 * and a test double all are. Drivers speak their protocol over this and never know which.
 *
 * Events: 'data' (chunk: Buffer), 'close' (err?: HashflexError with `disconnected` set when the
 * far side went away rather than us closing it).
 */
export interface ByteTransport extends EventEmitter {
  /** where it goes, for logs and errors: "/dev/ttyUSB0@115200" or "tcp://127.0.0.1:4001" */
  readonly description: string;
  readonly isOpen: boolean;
  /** Hand bytes to the OS. Resolves once written (not drained to the wire). */
  write(bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

/** A serial device as config names it: a local port, or raw bytes over TCP. */
export type SerialSpec = { path: string; baud?: number } | { tcp: string };

export function describeSpec(spec: SerialSpec): string {
  return 'tcp' in spec ? `tcp://${spec.tcp}` : `${spec.path}@${spec.baud ?? 115200}`;
}

export function parseHostPort(hostPort: string): { host: string; port: number } {
  const i = hostPort.lastIndexOf(':');
  const host = hostPort.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(hostPort.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`not HOST:PORT: ${JSON.stringify(hostPort)}`);
  }
  return { host, port };
}
