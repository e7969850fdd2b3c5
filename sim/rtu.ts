import net from 'node:net';

/**
 * A simulated aggregator's RTU: a small Modbus TCP client for the SCADA server's tests and
 * bench, written from the Modbus Messaging on TCP/IP Implementation Guide v1.0b (MBAP) on its
 * own, without the agent's codec. Requests may be pipelined; replies are matched by
 * transaction id. Exceptions come back as `{ exception: code }`, not as errors.
 */
export type Reply = { pdu: Buffer; exception?: undefined } | { pdu: Buffer; exception: number };

export class SimRtu {
  private tid = 0;
  private buf: Buffer = Buffer.alloc(0);
  private readonly waiting = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  closed = false;

  private constructor(readonly sock: net.Socket, readonly unit: number, private readonly timeoutMs: number) {
    sock.setNoDelay(true);
    sock.on('data', (d: Buffer) => this.onData(d));
    sock.on('error', () => {});
    sock.on('close', () => {
      this.closed = true;
      for (const w of this.waiting.values()) { clearTimeout(w.timer); w.reject(new Error('connection closed')); }
      this.waiting.clear();
    });
  }

  /** connect to HOST:PORT; `localAddress` picks the source address (loopback is all of 127.0.0.0/8) */
  static connect(host: string, port: number, opts: { unit?: number; localAddress?: string; timeoutMs?: number } = {}): Promise<SimRtu> {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host, port, localAddress: opts.localAddress });
      sock.once('error', reject);
      sock.once('connect', () => {
        sock.off('error', reject);
        resolve(new SimRtu(sock, opts.unit ?? 1, opts.timeoutMs ?? 3000));
      });
    });
  }

  /** one request PDU; resolves with the reply PDU */
  request(pdu: Buffer, unit = this.unit): Promise<Reply> {
    const tid = (this.tid = (this.tid + 1) & 0xffff);
    const head = Buffer.alloc(7);
    head.writeUInt16BE(tid, 0);
    head.writeUInt16BE(0, 2);
    head.writeUInt16BE(pdu.length + 1, 4);
    head[6] = unit;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.waiting.delete(tid); reject(new Error(`no reply to fn ${pdu[0]} in ${this.timeoutMs} ms`)); }, this.timeoutMs);
      this.waiting.set(tid, { resolve, reject, timer });
      this.sock.write(Buffer.concat([head, pdu]));
    });
  }

  /** bytes as they are, for malformed-frame tests */
  raw(bytes: Buffer): void {
    this.sock.write(bytes);
  }

  async readRegisters(addr: number, qty: number, fn: 3 | 4 = 3): Promise<number[] | { exception: number }> {
    const r = await this.request(u16s(fn, addr, qty));
    if (r.exception !== undefined) return { exception: r.exception };
    const out: number[] = [];
    for (let i = 0; i < r.pdu[1] / 2; i++) out.push(r.pdu.readUInt16BE(2 + i * 2));
    return out;
  }

  async readCoil(): Promise<boolean | { exception: number }> {
    const r = await this.request(u16s(1, 0, 1));
    if (r.exception !== undefined) return { exception: r.exception };
    return (r.pdu[2] & 1) === 1;
  }

  writeCoil(addr: number, on: boolean): Promise<Reply> {
    return this.request(u16s(5, addr, on ? 0xff00 : 0));
  }

  writeRegister(addr: number, value: number): Promise<Reply> {
    return this.request(u16s(6, addr, value));
  }

  writeRegisters(addr: number, values: number[]): Promise<Reply> {
    const pdu = Buffer.alloc(6 + values.length * 2);
    pdu[0] = 16;
    pdu.writeUInt16BE(addr, 1);
    pdu.writeUInt16BE(values.length, 3);
    pdu[5] = values.length * 2;
    values.forEach((v, i) => pdu.writeUInt16BE(v & 0xffff, 6 + i * 2));
    return this.request(pdu);
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((r) => { this.sock.once('close', () => r()); this.sock.end(); this.sock.destroySoon(); });
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    while (this.buf.length >= 7) {
      const len = this.buf.readUInt16BE(4);
      if (this.buf.length < 6 + len) break;
      const tid = this.buf.readUInt16BE(0);
      const pdu = Buffer.from(this.buf.subarray(7, 6 + len));
      this.buf = this.buf.subarray(6 + len);
      const w = this.waiting.get(tid);
      if (!w) continue;
      this.waiting.delete(tid);
      clearTimeout(w.timer);
      w.resolve(pdu[0] & 0x80 ? { pdu, exception: pdu[1] } : { pdu });
    }
  }
}

function u16s(fn: number, a: number, b: number): Buffer {
  const pdu = Buffer.alloc(5);
  pdu[0] = fn;
  pdu.writeUInt16BE(a, 1);
  pdu.writeUInt16BE(b, 3);
  return pdu;
}

/** f32 as two registers, high word first */
export function f32Words(v: number): [number, number] {
  const b = Buffer.alloc(4);
  b.writeFloatBE(v);
  return [b.readUInt16BE(0), b.readUInt16BE(2)];
}

export function wordsF32(hi: number, lo: number): number {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(hi, 0);
  b.writeUInt16BE(lo, 2);
  return b.readFloatBE(0);
}
