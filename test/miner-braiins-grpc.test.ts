import * as grpc from '@grpc/grpc-js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VirtualClock } from '../agent/clock';
import { ErrorCode } from '../agent/errors';
import { BraiinsMiner } from '../drivers/miner/braiins';
import { targetUri } from '../drivers/miner/braiins/channel';
import type { BosService } from '../drivers/miner/braiins/proto';
import { garbledService } from '../sim/miners/braiins-api';
import { minerOptions, rejection } from './fixtures/braiins/rig';

/**
 * The Braiins OS+ driver against a gRPC server made here from the same protos with @grpc/grpc-js,
 * not the simulator: a second, independent far side for the logon (the token in the header alone,
 * as firmware before API 1.1 sends it; a life the server enforces from the logon), already_paused,
 * and a server that hangs, answers junk, goes away or is no Braiins OS+ at all. Each test on its
 * own address in 127.25.2.0/24, port 50051; no 4028 API there.
 */
let next = 1;
const host = () => `127.25.2.${next++}`;
const MIN = 60_000;

type Call = grpc.ServerUnaryCall<Record<string, unknown>, object>;
type Impl = (call: Call) => object | undefined;

interface Far {
  server: grpc.Server;
  /** "Method" or "Method (token)" for each call, and " refused" where the token was not accepted */
  calls: string[];
  mode: 'ok' | 'hang' | 'garbage';
  close(): void;
}

/**
 * A server with `impl`'s methods; `undefined` from a method means UNAUTHENTICATED, a thrown error
 * its message. Tokens are checked by `impl` itself.
 */
async function serve(h: string, impl: Partial<Record<BosService, Record<string, Impl>>>): Promise<Far> {
  const server = new grpc.Server();
  const far: Far = { server, calls: [], mode: 'ok', close: () => server.forceShutdown() };
  for (const [name, methods] of Object.entries(impl) as [BosService, Record<string, Impl>][]) {
    const handlers: grpc.UntypedServiceImplementation = {};
    for (const [k, fn] of Object.entries(methods)) {
      handlers[k] = (call: Call, cb: grpc.sendUnaryData<object>) => {
        const token = call.metadata.get('authorization')[0];
        const i = far.calls.push(`${k}${token ? ' (token)' : ''}`) - 1;
        if (far.mode === 'hang') return;
        let out: object | undefined;
        try {
          out = fn(call);
        } catch (e) {
          return cb({ code: grpc.status.INVALID_ARGUMENT, details: (e as Error).message });
        }
        if (!out) {
          far.calls[i] += ' refused';
          return cb({ code: grpc.status.UNAUTHENTICATED, details: 'token expired' });
        }
        cb(null, out);
      };
    }
    server.addService(garbledService(name, () => far.mode === 'garbage'), handlers);
  }
  await new Promise<void>((resolve, reject) => server.bindAsync(`${h}:50051`, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())));
  return far;
}

/** a Braiins OS+ far side: tokens that live `lifeS` from their logon on `clock`, handed out as `give` says */
function bos(clock: VirtualClock, o: { lifeS: number; give: 'header' | 'body'; paused?: boolean }) {
  const tokens = new Map<string, number>();
  let n = 0;
  const state = { paused: o.paused ?? false, logins: 0, tokens };
  const valid = (c: Call) => {
    const t = c.metadata.get('authorization')[0];
    const at = typeof t === 'string' ? tokens.get(t) : undefined;
    return at !== undefined && clock.now() - at < o.lifeS * 1000;
  };
  const authed = (fn: (c: Call) => object): Impl => (c) => (valid(c) ? fn(c) : undefined);
  const impl: Partial<Record<BosService, Record<string, Impl>>> = {
    'braiins.bos.ApiVersionService': { GetApiVersion: () => ({ major: 1, minor: 0, patch: 0 }) },
    'braiins.bos.v1.AuthenticationService': {
      Login: (c) => {
        if (c.request.username !== 'root' || c.request.password !== 'root') return undefined;
        const token = `tok${++n}`;
        tokens.set(token, clock.now());
        state.logins++;
        const md = new grpc.Metadata();
        md.set('authorization', token);
        c.sendMetadata(md);
        return o.give === 'body' ? { token, timeout_s: o.lifeS } : {};
      },
    },
    'braiins.bos.v1.ActionsService': {
      PauseMining: authed(() => { const already = state.paused; state.paused = true; return { already_paused: already }; }),
      ResumeMining: authed(() => { const already = !state.paused; state.paused = false; return { already_mining: already }; }),
    },
    'braiins.bos.v1.MinerService': {
      GetMinerDetails: authed(() => ({ miner_identity: { brand: 1, miner_model: 'Antminer S19 XP' }, bos_version: { current: '2023-10-27-0-abcdef-23.10-plus', bos_plus: true }, status: state.paused ? 3 : 2 })),
      GetMinerStats: authed(() => ({
        miner_stats: { real_hashrate: { last_5s: { gigahash_per_second: state.paused ? 0 : 140_000 } }, nominal_hashrate: { gigahash_per_second: 140_000 } },
        power_stats: { approximated_consumption: { watt: state.paused ? 25 : 3010 } },
      })),
    },
    'braiins.bos.v1.CoolingService': { GetCoolingState: authed(() => ({ highest_temperature: { temperature: { degree_c: 71.5 } } })) },
    'braiins.bos.v1.PerformanceService': { GetTunerState: authed(() => ({ overall_tuner_state: 2, power_target_mode_state: { current_target: { watt: 3010 } } })) },
    'braiins.bos.v1.ConfigurationService': { GetConstraints: authed(() => ({ tuner_constraints: { power_target: { min: { watt: 1500 }, max: { watt: 3500 }, default: { watt: 3010 } } } })) },
  };
  return { impl, state };
}

/** a far side of `bos` (or of `other` methods only) on a fresh address and the driver pointed at it, on one virtual clock */
async function setup(o: Parameters<typeof bos>[1], other?: Parameters<typeof serve>[1]) {
  const h = host();
  const clock = new VirtualClock();
  const b = bos(clock, o);
  const far = await serve(h, other ?? b.impl);
  const miner = new BraiinsMiner(minerOptions(h, { ports: { api: 1 } }), clock, { reconnectMaxMs: 200 });
  return {
    h, clock, b, far, miner,
    async advance(ms: number) { clock.advance(ms); await miner.idle(); },
    async close() { await miner.close(); far.close(); },
  };
}

test('Firmware before API 1.1 sends the token only in the authorization header: the driver takes it from there and every call carries it', async () => {
  const t = await setup({ lifeS: 3600, give: 'header' });
  const { far, miner } = t;
  try {
    await miner.start();
    const s = miner.status();
    assert.is(s.fault, undefined);
    assert.is(s.state, 'hashing');
    assert.is(s.kw, 3.01);
    assert.is(s.tempC, 71.5);
    assert.is(s.setting, 3010);
    assert.equal([miner.settings.min, miner.settings.max], [1500, 3500]);
    assert.is(miner.details().tokenLifeS, 3600, 'no timeout_s: an hour is assumed');
    assert.equal(far.calls.slice(0, 2), ['GetApiVersion', 'Login']);
    assert.ok(far.calls.slice(2).every((c) => c.endsWith('(token)')), far.calls.join(', '));
  } finally {
    await t.close();
  }
});

test('A token the server holds to a one-minute life from its logon is renewed in the background: in ten minutes of polls no call is refused, and a stop is one PauseMining', async () => {
  const t = await setup({ lifeS: 60, give: 'body' });
  const { b, far, miner, advance } = t;
  try {
    await miner.start();
    for (let t = 0; t < 10 * MIN; t += 5_000) await advance(5_000);
    assert.equal(far.calls.filter((c) => c.endsWith('refused')), [], 'no call ever went out with an expired token');
    assert.ok(b.state.logins >= 10 * 2 - 1, `${b.state.logins} logons: one every half life`);
    assert.is(miner.status().fault, undefined);
    const before = far.calls.length;
    await miner.stop();
    assert.equal(far.calls.slice(before), ['PauseMining (token)']);
    assert.is(miner.status().state, 'stopping');
  } finally {
    await t.close();
  }
});

test('When the server refuses a token it issued (its tokens forgotten), the next poll logs in again and reads on', async () => {
  const t = await setup({ lifeS: 3600, give: 'body' });
  const { b, far, miner, advance } = t;
  try {
    await miner.start();
    b.state.tokens.clear();
    await advance(5_000);
    assert.ok(far.calls.some((c) => c.endsWith('refused')));
    assert.is(b.state.logins, 2);
    assert.is(miner.status().fault, undefined);
    assert.is(miner.status().state, 'hashing');
  } finally {
    await t.close();
  }
});

test('already_paused from the server is an accepted stop', async () => {
  const t = await setup({ lifeS: 3600, give: 'body', paused: true });
  const { far, miner } = t;
  try {
    await miner.start();
    assert.is(miner.status().state, 'sleeping');
    await miner.stop();
    assert.is(far.calls[far.calls.length - 1], 'PauseMining (token)');
    assert.is(miner.status().state, 'sleeping');
  } finally {
    await t.close();
  }
});

test('A server that hangs: a stop rejects at its deadline, a poll is a timeout fault, and close() ends the calls on the wire at once', async () => {
  const t = await setup({ lifeS: 3600, give: 'body' });
  const { far, miner, clock } = t;
  try {
    await miner.start();
    far.mode = 'hang';
    const stop = await rejection(miner.stop());
    assert.is(stop.code, ErrorCode.TransportTimeout);
    clock.advance(5_000); // a poll now hangs on the server
    const t0 = performance.now();
    await miner.close();
    assert.ok(performance.now() - t0 < 300, 'close did not wait for the poll\'s deadline');
  } finally {
    await t.close();
  }
});

test('A server answering junk is an unreadable-reply fault; once it answers properly the driver reads it again', async () => {
  const t = await setup({ lifeS: 3600, give: 'body' });
  const { far, miner, advance } = t;
  try {
    await miner.start();
    far.mode = 'garbage';
    await advance(5_000);
    assert.match(miner.status().fault ?? '', /unreadable reply/);
    assert.is((await rejection(miner.stop())).code, ErrorCode.FrameInvalid);
    far.mode = 'ok';
    await advance(40_000);
    assert.is(miner.status().fault, undefined);
  } finally {
    await t.close();
  }
});

test('A server that goes away is unreachable; a new one on the address (knowing no token) is found again and logged in to', async () => {
  const t = await setup({ lifeS: 3600, give: 'body' });
  const { miner, advance } = t;
  let far2: Far | undefined;
  try {
    await miner.start();
    t.far.close();
    await advance(5_000);
    assert.is(miner.status().state, 'unreachable');
    const b2 = bos(t.clock, { lifeS: 3600, give: 'body' });
    far2 = await serve(t.h, b2.impl);
    for (let i = 0; i < 4 && miner.status().fault; i++) await advance(40_000);
    assert.is(miner.status().fault, undefined);
    assert.is(b2.state.logins, 1, 'the new server\'s refusal of the old token brought a logon');
    await miner.stop();
    assert.ok(b2.state.paused);
  } finally {
    await t.close();
    far2?.close();
  }
});

test('A gRPC server that is not Braiins OS+ (no ApiVersionService) is refused: no Login is ever sent to it', async () => {
  const t = await setup({ lifeS: 60, give: 'body' }, { 'braiins.bos.v1.AuthenticationService': { Login: () => ({ token: 'x', timeout_s: 60 }) } });
  const { far, miner, advance } = t;
  try {
    await miner.start();
    assert.match(miner.status().fault ?? '', /^host is not Braiins OS\+ \(it serves gRPC but not the Braiins OS\+ API/);
    await advance(60_000);
    const stop = await rejection(miner.stop());
    assert.is(stop.code, ErrorCode.DeviceFault);
    assert.equal(far.calls, [], 'the credentials never left the agent');
  } finally {
    await t.close();
  }
});

test('An address literal goes to grpc-js as an ipv4: or ipv6: target (no DNS resolver for it); a name goes through DNS', () => {
  assert.is(targetUri('10.0.1.21', 50051), 'ipv4:10.0.1.21:50051');
  assert.is(targetUri('fd00::21', 50051), 'ipv6:[fd00::21]:50051');
  assert.is(targetUri('[fd00::21]', 50052), 'ipv6:[fd00::21]:50052');
  assert.is(targetUri('s19-01.site.lan', 50051), 's19-01.site.lan:50051');
});

test.run();
