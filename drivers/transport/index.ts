import { SerialTransport } from './serial';
import { TcpTransport } from './tcp';
import type { ByteTransport, SerialSpec } from './types';

export type { ByteTransport, SerialSpec } from './types';
export { describeSpec, parseHostPort } from './types';
export { SerialTransport } from './serial';
export { TcpTransport } from './tcp';

/** Open a serial device as config names it: a local port, or raw bytes over TCP. */
export function openTransport(spec: SerialSpec): Promise<ByteTransport> {
  return 'tcp' in spec ? TcpTransport.open(spec.tcp) : SerialTransport.open(spec.path, spec.baud ?? 115200);
}
