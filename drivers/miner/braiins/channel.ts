import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { ErrorCode, HashflexError } from '../../../agent/errors';
import type { LinkCounters } from '../../../agent/hardware';
import { bosService, type BosMethod, type BosService } from './proto';

/**
 * One HTTP/2 connection to a miner's gRPC API (TCP 50051), kept open for the driver's life: polls,
 * logins and the trip path's PauseMining all go over it as concurrent streams, so a stop never
 * queues behind a poll and never pays a TCP or HTTP/2 handshake. Every call has a deadline of
 * `timeoutMs`; its failure becomes a HashflexError with the transport flags the agent reads
 * (`disconnected`, `timeout`), or a GrpcRefusal carrying the gRPC status the miner answered.
 */
export interface BosTarget {
  host: string;
  port: number;
  timeoutMs: number;
}

export interface ChannelTuning {
  /** longest wait between reconnection attempts while the miner is away (ms); grpc-js's own default is 120 s */
  reconnectMaxMs: number;
}

export const CHANNEL_TUNING: ChannelTuning = { reconnectMaxMs: 5_000 };

/** the miner answered the call with a gRPC status other than OK */
export class GrpcRefusal extends HashflexError {
  constructor(message: string, readonly status: grpc.status, code = ErrorCode.DeviceFault) {
    super(message, code);
    this.name = 'GrpcRefusal';
  }
}

export const isUnauthenticated = (e: unknown): e is GrpcRefusal => e instanceof GrpcRefusal && e.status === grpc.status.UNAUTHENTICATED;

export interface CallResult<T> {
  response: T;
  /** the response's header metadata (Login's token arrives there on firmware before API 1.1) */
  headers: grpc.Metadata;
}

export interface CallOptions {
  token?: string;
}

export class BosChannel {
  private readonly client: grpc.Client;
  private readonly methods = new Map<string, grpc.MethodDefinition<object, object>>();
  /** calls on the wire: close() cancels them rather than wait out their deadlines */
  private readonly inFlight = new Set<grpc.ClientUnaryCall>();

  constructor(private readonly target: BosTarget, private readonly counters: LinkCounters, tuning: ChannelTuning = CHANNEL_TUNING) {
    this.client = new grpc.Client(targetUri(target.host, target.port), grpc.credentials.createInsecure(), {
      'grpc.initial_reconnect_backoff_ms': Math.min(1_000, tuning.reconnectMaxMs),
      'grpc.max_reconnect_backoff_ms': tuning.reconnectMaxMs,
      // the agent polls every few seconds: an idle channel is one the driver has stopped using
      'grpc.client_idle_timeout_ms': 10 * 60_000,
      // a reply is a few hundred bytes; anything near this is not the miner's API
      'grpc.max_receive_message_length': 1 << 20,
      'grpc.max_send_message_length': 1 << 16,
      // an agent drives a thousand of these: each of what follows costs objects or work per
      // channel or per call and buys nothing on a LAN link to one miner. No retry machinery (a
      // stop is never sent twice behind our back), no channelz registry and call tracking, no
      // service config from DNS TXT records, no HTTP CONNECT proxy from the environment
      'grpc.enable_retries': 0,
      'grpc.enable_channelz': 0,
      'grpc.service_config_disable_resolution': 1,
      'grpc.enable_http_proxy': 0,
    });
  }

  call<T extends object>(method: BosMethod, request: object, o: CallOptions = {}): Promise<CallResult<T>> {
    const def = this.method(method);
    // wait for ready: a call made while the channel reconnects (its back-off after the miner was
    // away) waits for the connection within its deadline instead of failing at once
    const metadata = new grpc.Metadata({ waitForReady: true });
    if (o.token !== undefined) metadata.set('authorization', o.token);
    const short = method.slice(method.lastIndexOf('/') + 1);
    this.counters.requests++;
    return new Promise((resolve, reject) => {
      let headers = new grpc.Metadata();
      const call = this.client.makeUnaryRequest<object, object>(
        def.path,
        def.requestSerialize,
        def.responseDeserialize,
        request,
        metadata,
        { deadline: Date.now() + this.target.timeoutMs },
        (err, response) => {
          this.inFlight.delete(call);
          if (err || !response) return reject(this.failure(short, err));
          this.counters.frames++;
          resolve({ response: response as T, headers });
        },
      );
      this.inFlight.add(call);
      call.on('metadata', (m: grpc.Metadata) => { headers = m; });
    });
  }

  /** the connection's state as grpc-js sees it (the doctor shows it) */
  get state(): string {
    return grpc.connectivityState[this.client.getChannel().getConnectivityState(false)];
  }

  close(): void {
    for (const c of this.inFlight) c.cancel();
    this.inFlight.clear();
    this.client.close();
  }

  private method(path: BosMethod): grpc.MethodDefinition<object, object> {
    let def = this.methods.get(path);
    if (!def) {
      const slash = path.lastIndexOf('/');
      const service = bosService(path.slice(0, slash) as BosService);
      def = service[path.slice(slash + 1)] as grpc.MethodDefinition<object, object> | undefined;
      if (!def) throw new Error(`${path}: no such method in the Braiins OS+ protos`);
      this.methods.set(path, def);
    }
    return def;
  }

  /** what a failed call means for the link: counted, and named with the miner's own words */
  private failure(method: string, err: grpc.ServiceError | null): HashflexError {
    const where = `${this.target.host}:${this.target.port} ${method}`;
    if (!err) {
      this.counters.resyncs++;
      return new HashflexError(`${where}: empty reply`, ErrorCode.FrameInvalid);
    }
    const details = err.details || err.message;
    switch (err.code) {
      case grpc.status.DEADLINE_EXCEEDED:
        this.counters.timeouts++;
        return new HashflexError(`${where}: no reply in ${this.target.timeoutMs} ms (${details})`, ErrorCode.TransportTimeout, { timeout: true });
      case grpc.status.UNAVAILABLE:
        return new HashflexError(`${where}: unreachable (${details})`, ErrorCode.TransportOpenFailed, { disconnected: true });
      case grpc.status.CANCELLED:
        return new HashflexError(`${where}: canceled (${details})`, ErrorCode.TransportClosed, { disconnected: true });
      case grpc.status.INTERNAL:
      case grpc.status.RESOURCE_EXHAUSTED:
        // a reply that does not decode as the message (grpc-js: "Response message parsing
        // error"), a broken HTTP/2 stream, or one over the size bound: not the API's words
        this.counters.resyncs++;
        return new GrpcRefusal(`${where}: unreadable reply (${details})`, err.code, ErrorCode.FrameInvalid);
      default:
        this.counters.exceptions++;
        return new GrpcRefusal(`${where} refused: ${grpc.status[err.code] ?? err.code} (${details})`, err.code);
    }
  }
}

/**
 * The channel's target: an address literal as `ipv4:` / `ipv6:` (grpc-js's IP resolver: no DNS
 * resolver with its re-resolution timers for a name that is already an address), a name through DNS
 */
export function targetUri(host: string, port: number): string {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const family = net.isIP(bare);
  if (family === 4) return `ipv4:${bare}:${port}`;
  if (family === 6) return `ipv6:[${bare}]:${port}`;
  return `${host}:${port}`;
}
