import net from 'node:net';
import type { Plant } from './plant';
import type { SimWire } from './wire';
import { exceptionPdu, mbap, parseRtuRequests, parseTcpRequests, readReplyPdu, withCrc, type ReadRequest } from './meter-frames';
import { DEFAULT_REFRESH_HZ, imageFor, liveReading, MeasurementCycle, readImage, type Reading, type SimMeterModel } from './meter-image';

/**
 * A simulated grid meter: a Modbus server on real loopback TCP and/or RTU on a SimWire (pty),
 * serving the SDM630 or SunSpec register map with live values from the Plant.
 * State + behaviours: each fault below is a behaviour a test switches on and off.
 */
export type { SimMeterModel } from './meter-image';

export interface SimMeterFaults {
  /** swallow requests: no reply at all */
  timeout: boolean;
  /**
   * RTU: reply with a wrong CRC. TCP has no CRC; there the sim acts as a TCP-to-RTU gateway whose
   * serial side saw the bad CRC and answers exception 0x0B, "gateway target device failed to
   * respond" (Modbus Application Protocol v1.1b3 §7)
   */
  crc: boolean;
  /** answer every read with this exception code (0 = off; 4 = server device failure) */
  exception: number;
  /** reply truncated: the byte count promises all registers, half of them are sent */
  short: boolean;
  /** reply carries another unit id (unit + 1) */
  wrongUnit: boolean;
  /** keep serving the values from the moment this was switched on (a hung meter CPU) */
  frozen: boolean;
}

export interface SimMeterOptions {
  plant: Plant;
  model: SimMeterModel;
  unit?: number;
  /** 0 or omitted: a free port; undefined with `rtu` given and `tcp: false`: no TCP server */
  tcpPort?: number;
  /** serve RTU over this wire too (several sim meters may share one wire: an RS-485 bus) */
  rtu?: SimWire;
  /**
   * Line speed to emulate on `rtu`: a pty moves bytes instantly, so the reply is held back by
   * the time request + reply take on a real line at this baud (11 bits a character, RTU's
   * 8E1/8N2, Modbus over Serial Line §2.5.1) plus the 3.5-character silence. 0 = no pacing.
   */
  baud?: number;
  /** false: RTU only */
  tcp?: boolean;
  /**
   * Measurements per second (default 5): the register image changes only this often, as a real
   * meter's measurement cycle; reads in between return the same values. 0.5 is a meter that
   * refreshes every 2 s; 0 takes a new measurement on every request.
   */
  refreshHz?: number;
}

export interface SimMeter {
  /** "127.0.0.1:PORT" ("" when TCP is off) */
  readonly tcp: string;
  readonly unit: number;
  readonly model: SimMeterModel;
  readonly faults: SimMeterFaults;
  /** measurements per second; settable while running (0 = a new measurement every request) */
  refreshHz: number;
  /** requests addressed to this unit, replies sent (any kind) */
  readonly stats: { requests: number; replies: number };
  /** switch every fault off */
  heal(): void;
  close(): Promise<void>;
}

export async function startSimMeter(opts: SimMeterOptions): Promise<SimMeter> {
  const m = new SimMeterImpl(opts);
  await m.listen(opts.tcp === false ? undefined : opts.tcpPort ?? 0);
  return m;
}

const noFaults = (): SimMeterFaults => ({ timeout: false, crc: false, exception: 0, short: false, wrongUnit: false, frozen: false });

class SimMeterImpl implements SimMeter {
  tcp = '';
  readonly unit: number;
  readonly model: SimMeterModel;
  readonly faults = noFaults();
  readonly stats = { requests: 0, replies: 0 };
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private frozenAt?: Reading;
  private readonly cycle: MeasurementCycle;
  private rtuBuf: Buffer = Buffer.alloc(0);
  private readonly onWire = (d: Buffer) => this.rtuData(d);
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly opts: SimMeterOptions) {
    this.unit = opts.unit ?? 1;
    this.model = opts.model;
    this.cycle = new MeasurementCycle((n) => liveReading(opts.plant, n), opts.refreshHz ?? DEFAULT_REFRESH_HZ);
    opts.rtu?.on('data', this.onWire);
  }

  get refreshHz(): number {
    return this.cycle.refreshHz;
  }

  set refreshHz(hz: number) {
    if (!(hz >= 0) || !Number.isFinite(hz)) throw new RangeError(`refreshHz: expected a finite number >= 0, got ${hz}`);
    this.cycle.refreshHz = hz;
  }

  heal(): void {
    Object.assign(this.faults, noFaults());
  }

  async listen(port: number | undefined): Promise<void> {
    if (port === undefined) return;
    const server = net.createServer((s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.tcp = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  }

  /**
   * The values of the present measurement cycle (new ones refreshHz times a second, with a few
   * LSBs of noise), or those held since `faults.frozen` went on.
   */
  private reading(): Reading {
    const live = this.cycle.reading();
    if (!this.faults.frozen) {
      this.frozenAt = undefined;
      return live;
    }
    this.frozenAt ??= live;
    return this.frozenAt;
  }

  /** The reply PDU for a request, or undefined for silence. Fault behaviours apply here. */
  private answer(req: ReadRequest): Buffer | undefined {
    this.stats.requests++;
    if (this.faults.timeout) return undefined;
    if (this.faults.exception) return exceptionPdu(req.fn, this.faults.exception);
    const img = imageFor(this.model, this.reading());
    if (req.fn !== 3 && req.fn !== 4) return exceptionPdu(req.fn, 1); // illegal function
    // SDM630 input registers answer 04 only; SunSpec holding registers 03 only
    if (req.fn !== img.fn) return exceptionPdu(req.fn, 2);
    const regs = readImage(img, req.addr, req.count);
    if (!regs) return exceptionPdu(req.fn, 2); // illegal data address
    const pdu = readReplyPdu(req.fn, regs);
    return this.faults.short ? pdu.subarray(0, 2 + Math.floor(regs.length / 2) * 2) : pdu;
  }

  private replyUnit(): number {
    return this.faults.wrongUnit ? (this.unit % 247) + 1 : this.unit;
  }

  private accept(s: net.Socket): void {
    this.sockets.add(s);
    s.setNoDelay(true);
    let buf: Buffer = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      const { reqs, rest, bad } = parseTcpRequests(Buffer.concat([buf, d]));
      buf = rest;
      for (const r of reqs) {
        if (r.unit !== this.unit && r.unit !== 0 && r.unit !== 255) continue; // a gateway would time out too
        let pdu = this.answer(r);
        if (!pdu) continue;
        if (this.faults.crc) pdu = exceptionPdu(r.fn, 0x0b);
        const frame = mbap(r.tid, this.replyUnit(), pdu);
        this.stats.replies++;
        s.write(frame);
      }
      if (bad) s.destroy(); // not Modbus/TCP: drop the connection as servers do
    });
    s.on('error', () => {});
    s.on('close', () => this.sockets.delete(s));
  }

  private rtuData(d: Buffer): void {
    const { reqs, rest } = parseRtuRequests(Buffer.concat([this.rtuBuf, d]));
    // a bus never holds more than one request in flight; drop runaway garbage
    this.rtuBuf = rest.length > 512 ? Buffer.alloc(0) : rest;
    for (const r of reqs) {
      if (r.unit !== this.unit) continue;
      const pdu = this.answer(r);
      if (!pdu) continue;
      const frame = withCrc(Buffer.concat([Buffer.from([this.replyUnit()]), pdu]));
      if (this.faults.crc) frame[frame.length - 1] ^= 0xff;
      this.stats.replies++;
      const baud = this.opts.baud ?? 0;
      const wire = this.opts.rtu;
      if (!baud) {
        wire?.write(frame);
        continue;
      }
      const ms = ((8 + frame.length + 3.5) * 11 * 1000) / baud;
      const t = setTimeout(() => { this.timers.delete(t); wire?.write(frame); }, ms);
      this.timers.add(t);
    }
  }

  async close(): Promise<void> {
    this.opts.rtu?.off('data', this.onWire);
    for (const t of this.timers) clearTimeout(t);
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }
}
