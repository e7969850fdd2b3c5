import ModbusRTU from 'modbus-serial';
import { describeSpec, parseHostPort, type SerialSpec } from '../transport/types';
import { classify, MeterError } from './errors';

/**
 * One Modbus connection (a TCP server, an RS-485 line, or RTU bytes over raw TCP), shared by
 * every meter on it, as evcc's util/modbus shares one connection per bus. Requests are
 * serialized: RTU allows one in flight per line. Each request carries its own timeout, so a
 * dead meter costs the others at most one timeout per poll of the dead meter (and the meter's
 * own backoff makes those polls rare).
 */
export type BusSpec = { tcp: string } | { serial: SerialSpec };

export interface RegisterReader {
  readonly description: string;
  /** raw register bytes (big-endian), exactly count * 2 long */
  /**
   * `low`: the caller is failing (backing off); its requests wait until no healthy meter's
   * request is queued, so a dead meter only ever takes the line when it is otherwise idle.
   */
  read(unit: number, fn: 3 | 4, addr: number, count: number, timeoutMs: number, low?: boolean): Promise<Buffer>;
  /** set after each (re)connection; counted by meters as reconnects */
  readonly connects: number;
}

type Job = () => Promise<void>;

export function busKey(spec: BusSpec): string {
  return 'tcp' in spec ? `modbus-tcp://${spec.tcp}` : `rtu:${describeSpec(spec.serial)}`;
}

/** After this many timeouts in a row with no good reply, drop and reopen the connection (a
 *  TCP stream out of step, a gateway that lost its serial side). */
const TIMEOUTS_BEFORE_RECONNECT = 3;

export class ModbusBus implements RegisterReader {
  readonly description: string;
  connects = 0;
  private client?: ModbusRTU;
  private opening?: Promise<ModbusRTU>;
  private readonly queues: [Job[], Job[]] = [[], []];
  private busy?: Promise<void>;
  private timeoutsInRow = 0;
  private closed = false;
  refs = 0;

  constructor(private readonly spec: BusSpec) {
    this.description = busKey(spec);
  }

  read(unit: number, fn: 3 | 4, addr: number, count: number, timeoutMs: number, low = false): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      this.queues[low ? 1 : 0].push(() => this.readNow(unit, fn, addr, count, timeoutMs).then(resolve, reject));
      this.busy ??= this.pump();
    });
  }

  /** one request on the line at a time, healthy meters' requests first */
  private async pump(): Promise<void> {
    for (;;) {
      const job = this.queues[0].shift() ?? this.queues[1].shift();
      if (!job) break;
      await job();
    }
    this.busy = undefined;
  }

  private async readNow(unit: number, fn: 3 | 4, addr: number, count: number, timeoutMs: number): Promise<Buffer> {
    if (this.closed) throw new MeterError(`${this.description}: closed`, 'disconnected');
    const where = `${this.description} unit ${unit} fn ${fn} @${addr}+${count}`;
    let client: ModbusRTU;
    try {
      client = await this.open(timeoutMs);
    } catch (e) {
      throw new MeterError(`${where}: ${(e as Error).message}`, 'disconnected', undefined, { cause: e });
    }
    client.setID(unit);
    client.setTimeout(timeoutMs);
    this.discardStale(client);
    try {
      const res = fn === 4 ? await client.readInputRegisters(addr, count) : await client.readHoldingRegisters(addr, count);
      const buf = res.buffer as Buffer;
      if (!Buffer.isBuffer(buf) || buf.length !== count * 2) throw new MeterError(`${where}: ${buf?.length} bytes, expected ${count * 2}`, 'short');
      this.timeoutsInRow = 0;
      return buf;
    } catch (e) {
      const err = classify(e, where);
      if (err.kind === 'timeout' && ++this.timeoutsInRow >= TIMEOUTS_BEFORE_RECONNECT) {
        this.timeoutsInRow = 0;
        await this.drop();
      }
      if (err.kind === 'disconnected') await this.drop();
      else if (err.kind !== 'timeout') this.timeoutsInRow = 0; // it answered: the link is alive
      throw err;
    }
  }

  /**
   * A reply never precedes its request, so whatever an RTU line holds when we send is left over
   * from a timed-out or garbled exchange. modbus-serial's buffered port keeps it and can splice it
   * into the next reply (its write() does not clear _buffer, rtubufferedport.js), so clear it here.
   */
  private discardStale(client: ModbusRTU): void {
    if ('tcp' in this.spec) return;
    const port = (client as unknown as { _port?: { _buffer?: unknown } })._port;
    if (port && Buffer.isBuffer(port._buffer)) port._buffer = Buffer.alloc(0);
  }

  private open(timeoutMs: number): Promise<ModbusRTU> {
    if (this.client?.isOpen) return Promise.resolve(this.client);
    this.opening ??= this.connect(Math.max(timeoutMs, 1000)).finally(() => { this.opening = undefined; });
    return this.opening;
  }

  private async connect(timeoutMs: number): Promise<ModbusRTU> {
    await this.drop();
    const client = new ModbusRTU();
    client.on('error', () => {}); // surfaced through the failing request instead
    const spec = this.spec;
    let p: Promise<void>;
    if ('tcp' in spec) {
      const { host, port } = parseHostPort(spec.tcp);
      p = client.connectTCP(host, { port, timeout: timeoutMs });
    } else if ('tcp' in spec.serial) {
      const { host, port } = parseHostPort(spec.serial.tcp);
      // RTU frames over a raw socket (ser2net, serial device servers) is modbus-serial's
      // "telnet" port; its connectTcpRTUBuffered speaks MBAP framing instead, despite the name
      p = client.connectTelnet(host, { port, timeout: timeoutMs });
    } else {
      // SDM630 factory default is 9600 8N1 (Eastron SDM630 user manual, "Communication")
      p = client.connectRTUBuffered(spec.serial.path, { baudRate: spec.serial.baud ?? 9600 });
    }
    // a SYN to a host that is gone can hang for minutes: bound the connect like a request
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new MeterError(`${this.description}: connect timed out`, 'disconnected')), timeoutMs);
    });
    try {
      await Promise.race([p, limit]);
    } catch (e) {
      try { client.close(() => {}); } catch { /* never opened */ }
      throw e;
    } finally {
      clearTimeout(timer);
    }
    this.client = client;
    this.connects++;
    return client;
  }

  private async drop(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    if (!c) return;
    await new Promise<void>((r) => {
      try {
        if (c.isOpen) c.close(() => r());
        else r();
      } catch { r(); }
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.busy;
    await this.drop();
  }
}

/**
 * Buses by connection, so meters that name the same line share one connection. Pass your own
 * to createMeter to keep tests independent.
 */
export class BusRegistry {
  private readonly buses = new Map<string, ModbusBus>();

  /** open buses, one per distinct connection */
  get size(): number {
    return this.buses.size;
  }

  acquire(spec: BusSpec): ModbusBus {
    const key = busKey(spec);
    let bus = this.buses.get(key);
    if (!bus) {
      bus = new ModbusBus(spec);
      this.buses.set(key, bus);
    }
    bus.refs++;
    return bus;
  }

  async release(bus: ModbusBus): Promise<void> {
    if (--bus.refs > 0) return;
    if (this.buses.get(bus.description) === bus) this.buses.delete(bus.description);
    await bus.close();
  }
}

export const defaultBuses = new BusRegistry();
