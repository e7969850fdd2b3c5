import net, { type AddressInfo } from 'node:net';
import { realClock, type Clock, type Timer } from '../../clock';
import { ErrorCode, HashflexError } from '../../errors';
import { logger } from '../../log';
import { allowList, type AllowList } from './allow';
import { adu, Exception, exceptionPdu, MbapSplitter, type Frame } from './codec';
import { ScadaDevice, type ScadaPort, type WriteCounts } from './device';
import { TokenBucket } from './rate';

const log = logger('scada');

/**
 * Bounds that keep the trip path safe from the network: a flood of connections, a flood of
 * requests, half-open sockets and clients that never read cost the event loop a bounded,
 * small amount. An RTU polls a few requests a second over one or two connections.
 */
export interface ScadaLimits {
  /** connections served at once; beyond, the one idle longest (≥ evictIdleMs) makes room, or the newcomer is refused */
  maxClients: number;
  evictIdleMs: number;
  /** new connections accepted per second (burst the same) */
  acceptsPerS: number;
  /** requests per second per connection, and the burst; beyond, the connection is cut (a curtail in it is still obeyed) */
  requestsPerS: number;
  burst: number;
  /** no request for this long: the connection is closed */
  idleMs: number;
  /** a frame begun and not finished for this long (half-open, or a slow-loris client): closed */
  partialMs: number;
  /** replies a client leaves unread beyond this many bytes: closed */
  maxUnreadBytes: number;
  /** a curtail not confirmed (every board off) in this long is answered exception 04 */
  curtailTimeoutMs: number;
}

export const SCADA_LIMITS: ScadaLimits = {
  maxClients: 8, evictIdleMs: 5000, acceptsPerS: 20, requestsPerS: 100, burst: 100,
  idleMs: 60_000, partialMs: 2000, maxUnreadBytes: 64 * 1024, curtailTimeoutMs: 5000,
};

export interface ScadaServerOptions {
  /** "HOST:PORT"; port 0 picks a free one (tests) */
  listen: string;
  unit: number;
  allow: readonly string[];
  write: boolean;
  capTtlS: number;
  limits?: Partial<ScadaLimits>;
}

/** Counters for /metrics (agent/grid/scada/metrics.ts). */
export interface ScadaStats {
  listening: boolean;
  connections: number;
  accepted: number;
  refused: { allow: number; limit: number; rate: number };
  evicted: number;
  requests: number;
  exceptions: Record<number, number>;
  /** connections closed for a stream that is not Modbus TCP */
  malformed: number;
  floodCuts: number;
  /** connections closed as idle, half-open or not reading */
  timeouts: number;
  writes: WriteCounts;
}

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(listen);
  if (!m || Number(m[3]) > 65535) throw new HashflexError(`scada.listen: expected HOST:PORT, got "${listen}"`, ErrorCode.ConfigInvalid);
  return { host: m[1] ?? m[2], port: Number(m[3]) };
}

/**
 * DESIGN §8's Modbus TCP server: the register map and curtail coil of ScadaDevice, served to
 * the clients in `allow`. Frames are handled in the socket's data callback, with no timer or
 * queue in between, so a coil write reaches the control core's trip path in the same tick it
 * arrives; its reply goes out once every board is off.
 */
export class ScadaServer {
  readonly device: ScadaDevice;
  private readonly allow: AllowList;
  private readonly limits: ScadaLimits;
  private readonly server: net.Server;
  private readonly conns = new Set<Connection>();
  private readonly accepts: TokenBucket;
  private sweep?: Timer;
  private readonly stat = {
    accepted: 0, refused: { allow: 0, limit: 0, rate: 0 }, evicted: 0, requests: 0,
    exceptions: {} as Record<number, number>, malformed: 0, floodCuts: 0, timeouts: 0,
  };

  constructor(private readonly opts: ScadaServerOptions, port: ScadaPort, private readonly clock: Clock = realClock) {
    this.limits = { ...SCADA_LIMITS, ...opts.limits };
    this.allow = allowList(opts.allow);
    this.device = new ScadaDevice(port, { write: opts.write, capTtlS: opts.capTtlS, curtailTimeoutMs: this.limits.curtailTimeoutMs }, clock);
    this.accepts = new TokenBucket(this.limits.acceptsPerS, this.limits.acceptsPerS, clock.monotonic());
    // paused until the address is checked: nothing from a refused client is ever read
    this.server = net.createServer({ pauseOnConnect: true, noDelay: true }, (s) => this.accept(s));
    // above maxClients the kernel-side refusal is cheaper than ours; headroom for eviction
    this.server.maxConnections = this.limits.maxClients * 4;
    this.server.on('error', (e) => log.error({ err: e.message }, 'scada server error'));
  }

  /** bind `listen`; rejects (EADDRINUSE, EADDRNOTAVAIL, EACCES below 1024) without retrying */
  listen(): Promise<AddressInfo> {
    const { host, port } = parseListen(this.opts.listen);
    return new Promise((resolve, reject) => {
      const fail = (e: Error) => reject(e);
      this.server.once('error', fail);
      this.server.listen({ host, port, exclusive: true }, () => {
        this.server.off('error', fail);
        this.sweep ??= this.clock.setInterval(() => this.sweepIdle(), 500);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  /** whether a client at this address is served */
  allows(address: string): boolean {
    return this.allow.allows(address);
  }

  get address(): AddressInfo | undefined {
    return (this.server.address() as AddressInfo | null) ?? undefined;
  }

  get stats(): ScadaStats {
    return { listening: this.server.listening, connections: this.conns.size, ...this.stat, refused: { ...this.stat.refused }, exceptions: { ...this.stat.exceptions }, writes: { ...this.device.writes } };
  }

  async close(): Promise<void> {
    this.sweep?.cancel();
    this.sweep = undefined;
    for (const c of this.conns) c.sock.destroy();
    this.conns.clear();
    if (!this.server.listening) return;
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private accept(sock: net.Socket): void {
    const now = this.clock.monotonic();
    if (!this.allow.allows(sock.remoteAddress)) {
      this.stat.refused.allow++;
      log.debug({ from: sock.remoteAddress }, 'scada: client not in scada.allow');
      return refuse(sock);
    }
    if (!this.accepts.take(now)) {
      this.stat.refused.rate++;
      return refuse(sock);
    }
    if (this.conns.size >= this.limits.maxClients) {
      let idlest: Connection | undefined;
      for (const c of this.conns) if (!idlest || c.lastActive < idlest.lastActive) idlest = c;
      if (!idlest || now - idlest.lastActive < this.limits.evictIdleMs) {
        this.stat.refused.limit++;
        return refuse(sock);
      }
      this.stat.evicted++;
      this.drop(idlest);
    }
    this.stat.accepted++;
    const conn = new Connection(sock, now, new TokenBucket(this.limits.requestsPerS, this.limits.burst, now));
    this.conns.add(conn);
    sock.setNoDelay(true);
    sock.setKeepAlive(true, 10_000);
    sock.on('data', (chunk: Buffer) => this.onData(conn, chunk));
    sock.on('error', () => { /* reset by the peer: 'close' follows */ });
    sock.on('close', () => { conn.closed = true; this.conns.delete(conn); });
    sock.resume();
  }

  private onData(conn: Connection, chunk: Buffer): void {
    const now = this.clock.monotonic();
    const bad = conn.splitter.push(chunk, (f) => this.onFrame(conn, f, now));
    if (bad) {
      this.stat.malformed++;
      log.debug({ from: conn.sock.remoteAddress, err: bad }, 'scada: not Modbus TCP; connection closed');
      return this.drop(conn);
    }
    conn.partialSince = conn.splitter.pending > 0 ? (conn.partialSince ?? now) : undefined;
  }

  /** one request: answered now, or (a curtail) once every board is off; false stops the read */
  private onFrame(conn: Connection, f: Frame, now: number): boolean {
    if (conn.closed) return false;
    if (conn.cutting === undefined) this.stat.requests++;
    conn.lastActive = now;
    if (conn.cutting !== undefined || !conn.bucket.take(now)) return this.cut(conn, f);
    const { tid, unit } = f;
    if (unit !== this.opts.unit) {
      // no such device behind this address: say so at once rather than let the client time out
      this.reply(conn, tid, unit, exceptionPdu(f.pdu[0], Exception.GatewayTargetFailed));
      return true;
    }
    const res = this.device.handle(f.pdu);
    if (Buffer.isBuffer(res)) this.reply(conn, tid, unit, res);
    else void res.then((pdu) => this.reply(conn, tid, unit, pdu));
    return true;
  }

  /**
   * Over the request rate: the connection is cut once this read is done, and nothing more in it
   * is answered; but an instruction to shed load in it (the curtail coil) is still obeyed.
   */
  private cut(conn: Connection, f: Frame): boolean {
    if (conn.cutting === undefined) {
      conn.cutting = 0;
      this.stat.floodCuts++;
      log.warn({ from: conn.sock.remoteAddress }, 'scada: request flood; connection cut');
      queueMicrotask(() => this.drop(conn));
    }
    if (f.unit === this.opts.unit && this.device.isCurtail(f.pdu)) {
      void this.device.handle(f.pdu);
      return false;
    }
    // looked through for a curtail, up to a bound: a flood's read costs the event loop little
    return ++conn.cutting < CUT_SCAN_FRAMES;
  }

  private reply(conn: Connection, tid: number, unit: number, pdu: Buffer): void {
    if (pdu[0] & 0x80) this.stat.exceptions[pdu[1]] = (this.stat.exceptions[pdu[1]] ?? 0) + 1;
    if (conn.closed) return;
    if (conn.sock.writableLength > this.limits.maxUnreadBytes) {
      this.stat.timeouts++;
      return this.drop(conn);
    }
    conn.sock.write(adu(tid, unit, pdu));
  }

  private sweepIdle(): void {
    const now = this.clock.monotonic();
    for (const c of this.conns) {
      const halfOpen = c.partialSince !== undefined && now - c.partialSince >= this.limits.partialMs;
      if (halfOpen || now - c.lastActive >= this.limits.idleMs) {
        this.stat.timeouts++;
        this.drop(c);
      }
    }
  }

  private drop(c: Connection): void {
    c.closed = true;
    this.conns.delete(c);
    c.sock.destroy();
  }
}

/** a TCP reset, not a goodbye: the client learns at once that it is not served */
function refuse(sock: net.Socket): void {
  // a socket already gone by the time it is accepted errors instead: never an uncaught one
  sock.on('error', () => {});
  sock.resetAndDestroy();
}

/** frames of a cut connection's last read looked through for a curtail */
const CUT_SCAN_FRAMES = 256;

class Connection {
  readonly splitter = new MbapSplitter();
  partialSince?: number;
  closed = false;
  /** over the rate: frames looked at since (the connection is being cut) */
  cutting?: number;
  constructor(readonly sock: net.Socket, public lastActive: number, readonly bucket: TokenBucket) {}
}
