import { ErrorCode, HashflexError } from '../../agent/errors';

/** What went wrong with one poll; each kind has its own link counter. */
export type MeterFaultKind = 'timeout' | 'crc' | 'exception' | 'short' | 'wrongUnit' | 'disconnected' | 'invalid' | 'frozen' | 'discovery';

export class MeterError extends HashflexError {
  constructor(message: string, readonly kind: MeterFaultKind, readonly modbusCode?: number, options?: { cause?: unknown }) {
    super(message, codeOf(kind), { timeout: kind === 'timeout', disconnected: kind === 'disconnected' }, options);
  }
}

function codeOf(kind: MeterFaultKind): ErrorCode {
  switch (kind) {
    case 'timeout': return ErrorCode.TransportTimeout;
    case 'disconnected': return ErrorCode.TransportClosed;
    case 'crc': return ErrorCode.FrameCrc;
    case 'exception': return ErrorCode.ModbusException;
    case 'short': case 'wrongUnit': return ErrorCode.FrameInvalid;
    default: return ErrorCode.DeviceFault;
  }
}

/**
 * modbus-serial reports failures as plain Errors told apart by message or errno
 * (node-modbus-serial index.js: "Timed out"/ETIMEDOUT, "CRC error", modbusCode, "Data length
 * error", "Unexpected data error", "Port Not Open"); map them to kinds once, here.
 */
export function classify(e: unknown, where: string): MeterError {
  if (e instanceof MeterError) return e;
  const err = e as { message?: string; errno?: string; code?: string; modbusCode?: number };
  const msg = String(err?.message ?? e);
  let kind: MeterFaultKind = 'disconnected';
  if (typeof err?.modbusCode === 'number') kind = 'exception';
  else if (err?.errno === 'ETIMEDOUT' || /timed out/i.test(msg)) kind = 'timeout';
  else if (/CRC/.test(msg)) kind = 'crc';
  else if (/Data length error/.test(msg)) kind = 'short';
  else if (/Unexpected data error, expected address/.test(msg)) kind = 'wrongUnit';
  else if (/Unexpected data error/.test(msg)) kind = 'short';
  return new MeterError(`${where}: ${msg}`, kind, err?.modbusCode, { cause: e });
}
