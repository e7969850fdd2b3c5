import type { Clock } from '../../clock';
import { logger } from '../../log';
import {
  decodeRequest, echoPdu, Exception, exceptionPdu, readBitsPdu, readRegistersPdu, writeMultiplePdu, type Request,
} from './codec';
import { CAP_MAX_KW, decodeF32, encodeRange, mapped, MAP_VERSION, registerAt, words, type RegisterDef, type ScadaValues } from './map';

const log = logger('scada');

/** What the SCADA device reads from and does to the site (site-port.ts builds it from a Site). */
export interface ScadaPort {
  /** the site's figures now; the device adds the map version and the lease register */
  values(): Omit<ScadaValues, 'map_version' | 'cap_lease_s'>;
  /** the scada curtailment is in force (coil 0 reads 1) */
  curtailed(): boolean;
  /** trip source `scada`: resolves once every board is off, with the boards that could not be confirmed off */
  curtail(): Promise<string[]>;
  /** end the scada curtailment, and only that */
  endCurtail(): void;
  /** a power cap that lapses after ttlS unless written again (set_power) */
  setCap(kw: number, ttlS: number): void;
  clearCap(): void;
}

export interface DeviceOptions {
  /** scada.write: false refuses every write with exception 01 */
  write: boolean;
  /** scada.cap_ttl_s: the lease of a cap written while register 102 holds 0 */
  capTtlS: number;
  /** a curtail whose boards are not all off by then is answered 04 (the curtailment stands) */
  curtailTimeoutMs?: number;
}

/** accepted writes by kind, for /metrics */
export interface WriteCounts {
  curtail: number;
  release: number;
  cap: number;
  lease: number;
}

const WRITES = new Set([5, 6, 15, 16]);
const COILS = 1; // coil 0 only

/**
 * The Modbus device the RTU talks to: DESIGN §8's registers and coil over a ScadaPort. Checks
 * run in the order of the state diagrams of Modbus Application Protocol v1.1b3 §6 (function,
 * then quantity, then address, then value) and a refused request changes nothing. Replies
 * are PDUs; a curtail's reply is a promise that settles once every board is off.
 */
export class ScadaDevice {
  /** register 102 as last written (0 = cap_ttl_s) */
  private leaseS = 0;
  readonly writes: WriteCounts = { curtail: 0, release: 0, cap: 0, lease: 0 };

  constructor(private readonly port: ScadaPort, private readonly opts: DeviceOptions, private readonly clock: Clock) {}

  /** the reply PDU to a request PDU */
  handle(pdu: Buffer): Buffer | Promise<Buffer> {
    const fn = pdu[0];
    if (WRITES.has(fn) && !this.opts.write) return exceptionPdu(fn, Exception.IllegalFunction);
    const req = decodeRequest(pdu);
    if ('exception' in req) return exceptionPdu(req.fn, req.exception);
    return this.serve(req);
  }

  /** true when the request PDU is a write of 1 to the curtail coil that would be obeyed */
  isCurtail(pdu: Buffer): boolean {
    if (!this.opts.write) return false;
    const r = decodeRequest(pdu);
    return (r.fn === 5 && 'on' in r && r.on && r.addr === 0) || (r.fn === 15 && 'bits' in r && r.addr === 0 && r.qty === 1 && r.bits[0]);
  }

  values(): ScadaValues {
    return { map_version: MAP_VERSION, ...this.port.values(), cap_lease_s: this.leaseS };
  }

  private serve(r: Request): Buffer | Promise<Buffer> {
    switch (r.fn) {
      case 1:
        if (r.addr + r.qty > COILS) return exceptionPdu(r.fn, Exception.IllegalDataAddress);
        return readBitsPdu(r.fn, [this.port.curtailed()]);
      case 3:
      case 4:
        if (!mapped(r.addr, r.qty)) return exceptionPdu(r.fn, Exception.IllegalDataAddress);
        return readRegistersPdu(r.fn, encodeRange(this.values(), r.addr, r.qty));
      case 5:
        if (r.addr >= COILS) return exceptionPdu(r.fn, Exception.IllegalDataAddress);
        return this.coil(r.on, () => echoPdu(5, r.addr, r.on ? 0xff00 : 0), 5);
      case 15:
        if (r.addr + r.qty > COILS) return exceptionPdu(r.fn, Exception.IllegalDataAddress);
        return this.coil(r.bits[0], () => writeMultiplePdu(15, r.addr, r.qty), 15);
      case 6:
        return this.writeRegisters(6, r.addr, [r.value], () => echoPdu(6, r.addr, r.value));
      case 16:
        return this.writeRegisters(16, r.addr, r.values, () => writeMultiplePdu(16, r.addr, r.qty));
    }
  }

  /** coil 0: 1 curtails (reply once every board is off), 0 ends the scada curtailment at once */
  private coil(on: boolean, reply: () => Buffer, fn: number): Buffer | Promise<Buffer> {
    if (!on) {
      this.port.endCurtail();
      this.writes.release++;
      log.info({ coil: 0 }, 'scada curtailment ended by the RTU');
      return reply();
    }
    this.writes.curtail++;
    const done = this.port.curtail();
    const limit = this.opts.curtailTimeoutMs ?? 5000;
    return new Promise<Buffer>((resolve) => {
      const timer = this.clock.setTimeout(() => {
        log.error({ ms: limit }, 'scada curtail: boards not all off in time; answered 04');
        resolve(exceptionPdu(fn, Exception.ServerDeviceFailure));
      }, limit);
      void done.then((notOff) => {
        timer.cancel();
        const off = !Array.isArray(notOff) || notOff.length === 0;
        resolve(off ? reply() : exceptionPdu(fn, Exception.ServerDeviceFailure));
        // queued behind the server's write of the reply: the RTU hears first, the log after
        queueMicrotask(() => {
          if (off) log.warn({ coil: 1 }, 'scada curtailment: all boards off');
          else log.error({ boards: notOff }, 'scada curtail: not every board confirmed off; answered 04');
        });
      });
    });
  }

  /**
   * Registers 100-102: whole values of read/write registers only (02 otherwise, and for half of
   * the 32-bit cap); every value checked before any is applied; the lease first, so one FC 16
   * over 100..102 writes a cap with its own lease.
   */
  private writeRegisters(fn: 6 | 16, addr: number, regs: number[], reply: () => Buffer): Buffer {
    const defs: { def: RegisterDef; regs: number[] }[] = [];
    for (let i = 0; i < regs.length;) {
      const at = registerAt(addr + i);
      if (!at || at.def.access !== 'rw' || at.word !== 0 || i + words(at.def.type) > regs.length) {
        return exceptionPdu(fn, Exception.IllegalDataAddress);
      }
      defs.push({ def: at.def, regs: regs.slice(i, i + words(at.def.type)) });
      i += words(at.def.type);
    }
    let lease: number | undefined;
    let cap: number | undefined;
    for (const { def, regs: r } of defs) {
      if (def.name === 'cap_lease_s') lease = r[0];
      else if (def.name === 'cap_kw') {
        cap = decodeF32(r[0], r[1]);
        // NaN or negative = no cap; +Inf and beyond the set_power range are out of range
        if (!Number.isNaN(cap) && cap >= 0 && !(cap <= CAP_MAX_KW)) return exceptionPdu(fn, Exception.IllegalDataValue);
      } else return exceptionPdu(fn, Exception.IllegalDataAddress);
    }
    if (lease !== undefined) {
      this.leaseS = lease;
      this.writes.lease++;
    }
    if (cap !== undefined) {
      this.writes.cap++;
      if (Number.isNaN(cap) || cap < 0) this.port.clearCap();
      else this.port.setCap(cap, this.leaseS || this.opts.capTtlS);
    }
    log.info({ cap_kw: cap, lease_s: lease }, 'scada register write');
    return reply();
  }
}
