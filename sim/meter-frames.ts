/**
 * Modbus framing for the simulated meter's server side: RTU (unit fn data CRC-16/MODBUS) and
 * TCP (MBAP header). Pure functions; the sim owns the sockets. Source: Modbus Application
 * Protocol v1.1b3 §6.3/6.4 (functions 03/04), Modbus over Serial Line v1.02 §2.5.1 (RTU frame,
 * CRC poly 0xA001 reflected, init 0xFFFF, low byte first), Modbus Messaging on TCP/IP v1.0b §3.1 (MBAP).
 */
export function crc16(buf: Uint8Array): number {
  let crc = 0xffff;
  for (const b of buf) {
    crc ^= b;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

export function withCrc(body: Buffer): Buffer {
  const out = Buffer.alloc(body.length + 2);
  body.copy(out);
  out.writeUInt16LE(crc16(body), body.length);
  return out;
}

export interface ReadRequest {
  unit: number;
  fn: number;
  addr: number;
  count: number;
}

/** PDU of a read reply: fn, byte count, registers big-endian. */
export function readReplyPdu(fn: number, regs: number[]): Buffer {
  const pdu = Buffer.alloc(2 + regs.length * 2);
  pdu[0] = fn;
  pdu[1] = regs.length * 2;
  regs.forEach((r, i) => pdu.writeUInt16BE(r & 0xffff, 2 + i * 2));
  return pdu;
}

export function exceptionPdu(fn: number, code: number): Buffer {
  return Buffer.from([fn | 0x80, code]);
}

/**
 * Pull RTU requests out of a byte stream. Returns the requests found and the bytes left over
 * (an incomplete frame). Bytes that do not start a well-formed frame are skipped one at a time
 * (counted in `skipped`), as a slave resyncs after line noise. Frames for every unit are
 * returned; the caller answers only its own.
 */
export function parseRtuRequests(buf: Buffer): { reqs: ReadRequest[]; rest: Buffer; skipped: number; crcErrors: number } {
  const reqs: ReadRequest[] = [];
  let i = 0;
  let skipped = 0;
  let crcErrors = 0;
  while (buf.length - i >= 8) {
    const fn = buf[i + 1];
    // 03/04 read and 06 write-single are 8-byte requests; 16 carries a byte count
    let len = 8;
    if (fn === 16) {
      if (buf.length - i < 7) break;
      len = 9 + buf[i + 6];
      if (buf.length - i < len) break;
    } else if (fn !== 3 && fn !== 4 && fn !== 6) {
      i++;
      skipped++;
      continue;
    }
    const frame = buf.subarray(i, i + len);
    if (crc16(frame.subarray(0, len - 2)) !== frame.readUInt16LE(len - 2)) {
      i++;
      skipped++;
      crcErrors++;
      continue;
    }
    reqs.push({ unit: frame[0], fn, addr: frame.readUInt16BE(2), count: frame.readUInt16BE(4) });
    i += len;
  }
  return { reqs, rest: Buffer.from(buf.subarray(i)), skipped, crcErrors };
}

/** Pull MBAP-framed requests out of a TCP stream; `tid` is echoed in the reply. */
export function parseTcpRequests(buf: Buffer): { reqs: (ReadRequest & { tid: number })[]; rest: Buffer; bad: boolean } {
  const reqs: (ReadRequest & { tid: number })[] = [];
  let i = 0;
  while (buf.length - i >= 7) {
    const proto = buf.readUInt16BE(i + 2);
    const len = buf.readUInt16BE(i + 4);
    // protocol id is always 0 for Modbus; a PDU is at most 253 bytes (+1 unit)
    if (proto !== 0 || len < 2 || len > 254) return { reqs, rest: Buffer.alloc(0), bad: true };
    if (buf.length - i < 6 + len) break;
    const tid = buf.readUInt16BE(i);
    const unit = buf[i + 6];
    const fn = buf[i + 7];
    const addr = len >= 6 ? buf.readUInt16BE(i + 8) : 0;
    const count = len >= 6 ? buf.readUInt16BE(i + 10) : 0;
    reqs.push({ tid, unit, fn, addr, count });
    i += 6 + len;
  }
  return { reqs, rest: Buffer.from(buf.subarray(i)), bad: false };
}

export function mbap(tid: number, unit: number, pdu: Buffer): Buffer {
  const head = Buffer.alloc(7);
  head.writeUInt16BE(tid, 0);
  head.writeUInt16BE(0, 2);
  head.writeUInt16BE(pdu.length + 1, 4);
  head[6] = unit;
  return Buffer.concat([head, pdu]);
}

export function f32(v: number): [number, number] {
  const b = Buffer.alloc(4);
  b.writeFloatBE(v);
  return [b.readUInt16BE(0), b.readUInt16BE(2)];
}
