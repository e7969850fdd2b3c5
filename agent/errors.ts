/**
 * One error class for the whole project, with banded numeric codes (as zwave-js does) so
 * tests and callers branch on codes, never on message text.
 *   1xx config and usage   2xx transport   3xx protocol/framing   4xx device   5xx uplink
 */
export enum ErrorCode {
  ConfigInvalid = 100,
  UsageInvalid = 101,
  TransportOpenFailed = 200,
  TransportClosed = 201,
  TransportTimeout = 202,
  FrameInvalid = 300,
  FrameCrc = 301,
  ModbusException = 302,
  DeviceUnresponsive = 400,
  DeviceFault = 401,
  UplinkAuth = 500,
  UplinkProtocol = 501,
  /** OpenADR VTN: credentials or token refused (agent/grid/openadr) */
  VtnAuth = 510,
  /** OpenADR VTN: a reply that is not JSON or not the specification's schema */
  VtnProtocol = 511,
  /** OpenADR VTN: a request refused (4xx/5xx with a problem) */
  VtnRefused = 512,
}

export interface HashflexErrorFlags {
  /** the link is gone; reconnect before retrying */
  disconnected?: boolean;
  /** no answer in time; the link may still be up */
  timeout?: boolean;
}

export class HashflexError extends Error {
  readonly disconnected: boolean;
  readonly timeout: boolean;
  constructor(
    message: string,
    readonly code: ErrorCode,
    flags: HashflexErrorFlags = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'HashflexError';
    this.disconnected = flags.disconnected ?? false;
    this.timeout = flags.timeout ?? false;
  }
}

export function isHashflexError(e: unknown, code?: ErrorCode): e is HashflexError {
  return e instanceof HashflexError && (code === undefined || e.code === code);
}
