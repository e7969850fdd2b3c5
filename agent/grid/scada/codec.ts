/**
 * Modbus TCP on the server side: MBAP framing of the byte stream, request PDUs decoded into
 * plain objects, reply PDUs encoded. Pure functions and one small splitter; the server owns the
 * sockets. Sources: Modbus Messaging on TCP/IP Implementation Guide v1.0b §3.1.3 (MBAP header:
 * transaction id, protocol id 0, length = unit id + PDU, unit id); Modbus Application Protocol
 * v1.1b3 §4.1 (a PDU is at most 253 bytes), §6.1-6.12 (functions 01, 03, 04, 05, 06, 15, 16 and
 * their quantity limits), §7 (exception replies: function | 0x80, one code byte).
 */

export const MBAP_LEN = 7;
export const MAX_PDU = 253;

export const Exception = {
  IllegalFunction: 0x01,
  IllegalDataAddress: 0x02,
  IllegalDataValue: 0x03,
  ServerDeviceFailure: 0x04,
  /** Modbus TCP gateways: no device behind this unit id (v1.1b3 §7, code 0x0B) */
  GatewayTargetFailed: 0x0b,
} as const;

/** One request off the stream. `pdu` is a view into the splitter's buffer: valid only during the callback. */
export interface Frame {
  tid: number;
  unit: number;
  pdu: Buffer;
}

/**
 * Cuts a TCP byte stream into MBAP frames. TCP delivers any split of the stream, so a frame may
 * arrive in pieces or many frames in one read; at most one partial frame (≤ 260 bytes) is held.
 * A header that is not Modbus (protocol id ≠ 0, a length outside 2..254) leaves no way to find
 * the next frame boundary: push() returns what is wrong and the caller closes the connection.
 */
export class MbapSplitter {
  private readonly held = Buffer.alloc(MBAP_LEN + MAX_PDU);
  private heldLen = 0;

  /** bytes of an unfinished frame held (a client that stops mid-frame is half-open) */
  get pending(): number {
    return this.heldLen;
  }

  /**
   * Feed one read. `onFrame` is called for each whole frame in order; returning false stops
   * the rest of the read (the caller is cutting the connection). Returns an error text when
   * the stream is not Modbus TCP.
   */
  push(chunk: Buffer, onFrame: (f: Frame) => boolean | void): string | undefined {
    let off = 0;
    // finish a held partial frame first, from the start of this read
    if (this.heldLen > 0) {
      const need = this.heldLen < MBAP_LEN ? MBAP_LEN - this.heldLen : 0;
      const headBytes = Math.min(need, chunk.length);
      chunk.copy(this.held, this.heldLen, 0, headBytes);
      this.heldLen += headBytes;
      off = headBytes;
      if (this.heldLen < MBAP_LEN) return undefined;
      const bad = headerProblem(this.held, 0);
      if (bad) return bad;
      const total = MBAP_LEN - 1 + this.held.readUInt16BE(4);
      const body = Math.min(total - this.heldLen, chunk.length - off);
      chunk.copy(this.held, this.heldLen, off, off + body);
      this.heldLen += body;
      off += body;
      if (this.heldLen < total) return undefined;
      this.heldLen = 0;
      if (onFrame(frameAt(this.held, 0, total)) === false) return undefined;
    }
    while (off < chunk.length) {
      const left = chunk.length - off;
      if (left >= MBAP_LEN) {
        const bad = headerProblem(chunk, off);
        if (bad) return bad;
        const total = MBAP_LEN - 1 + chunk.readUInt16BE(off + 4);
        if (left >= total) {
          const f = frameAt(chunk, off, total);
          off += total;
          if (onFrame(f) === false) return undefined;
          continue;
        }
      }
      chunk.copy(this.held, 0, off);
      this.heldLen = left;
      break;
    }
    return undefined;
  }
}

function headerProblem(b: Buffer, at: number): string | undefined {
  const proto = b.readUInt16BE(at + 2);
  if (proto !== 0) return `protocol id ${proto} is not Modbus (0)`;
  const len = b.readUInt16BE(at + 4);
  if (len < 2 || len > MAX_PDU + 1) return `MBAP length ${len} outside 2..${MAX_PDU + 1}`;
  return undefined;
}

function frameAt(b: Buffer, at: number, total: number): Frame {
  return { tid: b.readUInt16BE(at), unit: b[at + 6], pdu: b.subarray(at + MBAP_LEN, at + total) };
}

/** A request decoded and checked for form (quantities, byte counts, coil values); addresses are the map's business. */
export type Request =
  | { fn: 1 | 3 | 4; addr: number; qty: number }
  | { fn: 5; addr: number; on: boolean }
  | { fn: 6; addr: number; value: number }
  | { fn: 15; addr: number; qty: number; bits: boolean[] }
  | { fn: 16; addr: number; qty: number; values: number[] };

export type Decoded = Request | { fn: number; exception: number };

/** limits of v1.1b3: read coils 1..2000, read registers 1..125, write coils 1..1968, write registers 1..123 */
const MAX_READ_BITS = 2000;
const MAX_READ_REGS = 125;
const MAX_WRITE_BITS = 0x7b0;
const MAX_WRITE_REGS = 0x7b;

export function decodeRequest(pdu: Buffer): Decoded {
  const fn = pdu[0];
  const bad = { fn, exception: Exception.IllegalDataValue };
  switch (fn) {
    case 1:
    case 3:
    case 4: {
      if (pdu.length !== 5) return bad;
      const qty = pdu.readUInt16BE(3);
      if (qty < 1 || qty > (fn === 1 ? MAX_READ_BITS : MAX_READ_REGS)) return bad;
      return { fn, addr: pdu.readUInt16BE(1), qty };
    }
    case 5: {
      if (pdu.length !== 5) return bad;
      const v = pdu.readUInt16BE(3);
      if (v !== 0xff00 && v !== 0x0000) return bad;
      return { fn, addr: pdu.readUInt16BE(1), on: v === 0xff00 };
    }
    case 6:
      if (pdu.length !== 5) return bad;
      return { fn, addr: pdu.readUInt16BE(1), value: pdu.readUInt16BE(3) };
    case 15: {
      if (pdu.length < 6) return bad;
      const qty = pdu.readUInt16BE(3);
      const n = pdu[5];
      if (qty < 1 || qty > MAX_WRITE_BITS || n !== Math.ceil(qty / 8) || pdu.length !== 6 + n) return bad;
      const bits: boolean[] = new Array(qty);
      for (let i = 0; i < qty; i++) bits[i] = ((pdu[6 + (i >> 3)] >> (i & 7)) & 1) === 1;
      return { fn, addr: pdu.readUInt16BE(1), qty, bits };
    }
    case 16: {
      if (pdu.length < 6) return bad;
      const qty = pdu.readUInt16BE(3);
      const n = pdu[5];
      if (qty < 1 || qty > MAX_WRITE_REGS || n !== qty * 2 || pdu.length !== 6 + n) return bad;
      const values: number[] = new Array(qty);
      for (let i = 0; i < qty; i++) values[i] = pdu.readUInt16BE(6 + i * 2);
      return { fn, addr: pdu.readUInt16BE(1), qty, values };
    }
    default:
      return { fn, exception: Exception.IllegalFunction };
  }
}

// ---- replies --------------------------------------------------------------------------------

export function exceptionPdu(fn: number, code: number): Buffer {
  return Buffer.from([(fn | 0x80) & 0xff, code]);
}

/** FC 01: byte count, then the bits packed LSB first */
export function readBitsPdu(fn: number, bits: boolean[]): Buffer {
  const n = Math.ceil(bits.length / 8);
  const pdu = Buffer.alloc(2 + n);
  pdu[0] = fn;
  pdu[1] = n;
  bits.forEach((b, i) => { if (b) pdu[2 + (i >> 3)] |= 1 << (i & 7); });
  return pdu;
}

/** FC 03/04: byte count, then the registers big-endian */
export function readRegistersPdu(fn: number, regs: number[]): Buffer {
  const pdu = Buffer.alloc(2 + regs.length * 2);
  pdu[0] = fn;
  pdu[1] = regs.length * 2;
  for (let i = 0; i < regs.length; i++) pdu.writeUInt16BE(regs[i] & 0xffff, 2 + i * 2);
  return pdu;
}

/** FC 05/06: the request echoed */
export function echoPdu(fn: 5 | 6, addr: number, value: number): Buffer {
  const pdu = Buffer.alloc(5);
  pdu[0] = fn;
  pdu.writeUInt16BE(addr, 1);
  pdu.writeUInt16BE(value, 3);
  return pdu;
}

/** FC 15/16: start address and quantity written */
export function writeMultiplePdu(fn: 15 | 16, addr: number, qty: number): Buffer {
  const pdu = Buffer.alloc(5);
  pdu[0] = fn;
  pdu.writeUInt16BE(addr, 1);
  pdu.writeUInt16BE(qty, 3);
  return pdu;
}

/** MBAP header + PDU, the transaction id and unit id of the request */
export function adu(tid: number, unit: number, pdu: Buffer): Buffer {
  const out = Buffer.alloc(MBAP_LEN + pdu.length);
  out.writeUInt16BE(tid, 0);
  out.writeUInt16BE(0, 2);
  out.writeUInt16BE(pdu.length + 1, 4);
  out[6] = unit;
  pdu.copy(out, MBAP_LEN);
  return out;
}
