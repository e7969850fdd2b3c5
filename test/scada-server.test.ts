import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { scadaMetrics } from '../agent/grid/scada';
import { f32Words, SimRtu, wordsF32 } from '../sim/rtu';
import { scadaRig, until } from './fixtures/scada/rig';

/**
 * The SCADA server over real loopback TCP in front of the real Site and control core (on a
 * virtual clock, over in-process stand-ins): the coil's trip path, the cap and its lease, the
 * refusals, `allow`, and what malformed frames, floods and half-open sockets may cost.
 */
/** connect and read register 0: 'served', or 'refused' when the server resets the connection */
async function attempt(port: number): Promise<'served' | 'refused'> {
  try {
    const rtu = await SimRtu.connect('127.0.0.1', port, { timeoutMs: 2000 });
    const got = await rtu.readRegisters(0, 1).catch(() => undefined);
    await rtu.close();
    return Array.isArray(got) ? 'served' : 'refused';
  } catch {
    return 'refused';
  }
}

const STATE = 1;
const SOURCES = 2;
const SCADA_BIT = 1 << 7;
const COMMAND_BIT = 1 << 0;

test('When the RTU writes 1 to the curtail coil, every board is off before the reply arrives, and the site reads curtailed by scada', async () => {
  const r = await scadaRig();
  try {
    await r.run(60_000);
    assert.equal(r.hashing(), r.ids, 'all boards mine to begin with');
    const rtu = await r.rtu();
    let offAtReply: boolean | undefined;
    const reply = await rtu.writeCoil(0, true).then((x) => { offAtReply = r.allOff(); return x; });
    assert.equal(reply.pdu, Buffer.from([5, 0, 0, 0xff, 0]), 'the request echoed');
    assert.is(offAtReply, true, 'every enable line low and every chain stopped when the reply came');
    assert.is(r.site.controller.state, 'curtailed');
    assert.equal(r.site.controller.tripSources, ['scada']);
    assert.is(await rtu.readCoil(), true);
    const regs = await rtu.readRegisters(0, 22) as number[];
    assert.is(regs[STATE], 1, 'state 1 curtailed');
    assert.is(regs[SOURCES], SCADA_BIT);
    assert.is((regs[20] << 16) | regs[21], 1, 'one trip since start');
    assert.ok(Number.isFinite(wordsF32(regs[18], regs[19])), 'the last trip latency is known');
    assert.is(wordsF32(regs[10], regs[11]), 0, 'the miners draw nothing');
    assert.is(wordsF32(regs[14], regs[15]), 0, 'nothing left to shed');
  } finally {
    await r.close();
  }
});

test('Writing 0 ends the scada curtailment and only that: a controller curtail stands, and a controller release leaves the coil in force', async () => {
  const r = await scadaRig();
  try {
    await r.run(60_000);
    const rtu = await r.rtu();
    await rtu.writeCoil(0, true);
    await r.site.curtail('command');
    assert.is(((await rtu.readRegisters(SOURCES, 1)) as number[])[0], SCADA_BIT | COMMAND_BIT);
    await rtu.writeCoil(0, false);
    assert.equal(r.site.controller.tripSources, ['command'], 'the controller\'s curtailment stands');
    assert.is(await rtu.readCoil(), false);
    await rtu.writeCoil(0, true);
    assert.ok(r.site.controller.release().ok);
    assert.equal(r.site.controller.tripSources, ['scada'], 'release ends the controller\'s curtailment, not the RTU\'s');
    await rtu.writeCoil(0, false);
    assert.is(r.site.controller.state, 'ramping', 'no curtailment left: boards come back, staggered');
    await r.run(60_000);
    assert.equal(r.hashing(), r.ids);
  } finally {
    await r.close();
  }
});

test('A cap written to 100-101 holds the miners under it for the lease in 102, and lapses when the lease runs out', async () => {
  const r = await scadaRig({ setpointKw: 6 });
  try {
    await r.run(60_000);
    const rtu = await r.rtu();
    assert.is((await rtu.writeRegister(102, 30)).exception, undefined);
    assert.is((await rtu.writeRegisters(100, f32Words(1.5))).exception, undefined);
    assert.is(r.site.controller.leaseKw, 1.5);
    await r.run(20_000);
    assert.ok(r.site.minersKw() <= 1.5 + 1e-9, `miners ${r.site.minersKw()} kW under the cap`);
    const regs = await rtu.readRegisters(100, 3) as number[];
    assert.is(wordsF32(regs[0], regs[1]), 1.5);
    assert.is(regs[2], 30);
    await r.run(10_500);
    assert.is(r.site.controller.leaseKw, undefined, 'lapsed after 30 s');
    const after = await rtu.readRegisters(100, 2) as number[];
    assert.ok(Number.isNaN(wordsF32(after[0], after[1])), 'reads NaN: no cap');
    // the lease register at 0: the cap gets scada.cap_ttl_s (60 s); NaN clears it at once
    await rtu.writeRegisters(100, [...f32Words(2), 0]);
    await r.run(59_000);
    assert.is(r.site.controller.leaseKw, 2);
    await rtu.writeRegisters(100, f32Words(Number.NaN));
    await r.run(100);
    assert.is(r.site.controller.leaseKw, undefined, 'NaN = none');
    const none = await rtu.readRegisters(100, 2) as number[];
    assert.ok(Number.isNaN(wordsF32(none[0], none[1])));
  } finally {
    await r.close();
  }
});

test('Refused writes change nothing and get the right exception, over the wire', async () => {
  const r = await scadaRig();
  try {
    await r.run(60_000);
    const rtu = await r.rtu();
    const before = JSON.stringify({ state: r.site.controller.state, trips: r.site.controller.tripSources, lease: r.site.controller.leaseKw });
    assert.is((await rtu.writeRegister(0, 5)).exception, 2, 'read-only register');
    assert.is((await rtu.writeRegister(100, 0x4020)).exception, 2, 'half of the cap');
    assert.is((await rtu.writeRegisters(100, f32Words(Infinity))).exception, 3, '+Inf');
    assert.is((await rtu.writeCoil(1, true)).exception, 2, 'no coil 1');
    assert.is((await rtu.request(Buffer.from([5, 0, 0, 0x12, 0x34]))).exception, 3, 'coil value');
    assert.equal(await rtu.readRegisters(22, 1), { exception: 2 });
    assert.is((await rtu.request(Buffer.from([3, 0, 0, 0, 1]), 7)).exception, 0x0b, 'another unit id');
    assert.is(JSON.stringify({ state: r.site.controller.state, trips: r.site.controller.tripSources, lease: r.site.controller.leaseKw }), before);
    assert.equal(r.hashing(), r.ids);
    const s = r.scada.stats;
    assert.is(s.exceptions[2], 4);
    assert.is(s.exceptions[3], 2);
    assert.is(s.exceptions[11], 1);
  } finally {
    await r.close();
  }
});

test('With write: false the coil and the cap are refused with exception 01, and the site is read as usual', async () => {
  const r = await scadaRig({ scada: { write: false } });
  try {
    await r.run(60_000);
    const rtu = await r.rtu();
    assert.is((await rtu.writeCoil(0, true)).exception, 1);
    assert.is((await rtu.writeRegisters(100, f32Words(1))).exception, 1);
    assert.is((await rtu.writeRegister(102, 10)).exception, 1);
    assert.equal(r.hashing(), r.ids);
    assert.is(r.site.controller.leaseKw, undefined);
    assert.is(((await rtu.readRegisters(0, 1)) as number[])[0], 1);
  } finally {
    await r.close();
  }
});

test('A client outside scada.allow is not served: reset before a byte of its is read (127.0.0.2 against an allow of 127.0.0.1/32)', async () => {
  const r = await scadaRig();
  try {
    const closed = await new Promise<{ data: number; err?: string }>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: r.port, localAddress: '127.0.0.2' });
      let data = 0;
      s.on('connect', () => s.write(Buffer.from('000100000006010500' + '00ff00', 'hex')));
      s.on('data', (d) => { data += d.length; });
      s.on('error', (e: NodeJS.ErrnoException) => resolve({ data, err: e.code }));
      s.on('close', () => resolve({ data }));
    });
    assert.is(closed.data, 0, 'no reply');
    assert.is(r.site.controller.tripSources.length, 0, 'its coil write was never read');
    assert.is(r.scada.stats.refused.allow, 1);
    const ok = await r.rtu();
    assert.is(((await ok.readRegisters(0, 1)) as number[])[0], 1, '127.0.0.1 is served');
  } finally {
    await r.close();
  }
});

test('A stream that is not Modbus TCP closes that connection only; the curtail coil on another connection is obeyed as ever', async () => {
  const r = await scadaRig();
  try {
    await r.run(60_000);
    const good = await r.rtu();
    const junk = [
      Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
      Buffer.from('0001000100060103000000 01'.replace(/ /g, ''), 'hex'),
      Buffer.from('00010000000001', 'hex'),
      Buffer.alloc(4096, 0xff),
    ];
    for (const j of junk) {
      const bad = await r.rtu();
      bad.raw(j);
      await until(() => bad.closed, 'the malformed connection closed');
    }
    assert.is(r.scada.stats.malformed, junk.length);
    const reply = await good.writeCoil(0, true);
    assert.is(reply.exception, undefined);
    assert.ok(r.allOff());
  } finally {
    await r.close();
  }
});

test('A request flood is cut off, but a curtail inside it is still obeyed', async () => {
  const r = await scadaRig({ limits: { burst: 5, requestsPerS: 5 } });
  try {
    await r.run(60_000);
    const rtu = await r.rtu();
    const frames: Buffer[] = [];
    for (let i = 0; i < 8; i++) frames.push(Buffer.from(`${(i + 1).toString(16).padStart(4, '0')}000000060103000000 16`.replace(/ /g, ''), 'hex'));
    frames.push(Buffer.from('00630000000601050000ff00', 'hex'));
    rtu.raw(Buffer.concat(frames));
    await until(() => rtu.closed, 'the flooding connection cut');
    await until(() => r.allOff(), 'the curtail obeyed');
    assert.equal(r.site.controller.tripSources, ['scada']);
    assert.is(r.scada.stats.floodCuts, 1);
  } finally {
    await r.close();
  }
});

test('A flood of connections is bounded: beyond max clients newcomers are refused unless one is idle long enough to make room', async () => {
  const r = await scadaRig({ limits: { maxClients: 3, evictIdleMs: 5000, acceptsPerS: 100 } });
  try {
    await r.run(10_000);
    const held = [await r.rtu(), await r.rtu(), await r.rtu()];
    for (const h of held) await h.readRegisters(0, 1);
    assert.is(await attempt(r.port), 'refused', 'a fourth is refused');
    assert.is(r.scada.stats.refused.limit, 1);
    await r.run(6000); // the three are idle 6 s now (virtual time)
    await held[1].readRegisters(0, 1);
    await held[2].readRegisters(0, 1);
    const rtu = await r.rtu();
    await until(() => held[0].closed, 'the idlest connection evicted');
    assert.is(((await rtu.readRegisters(0, 1)) as number[])[0], 1, 'the newcomer is served');
    assert.is(r.scada.stats.evicted, 1);
    assert.is(r.scada.stats.connections, 3);
  } finally {
    await r.close();
  }
});

test('New connections beyond the accept rate are reset at once', async () => {
  const r = await scadaRig({ limits: { acceptsPerS: 4, maxClients: 64 } });
  try {
    const got = await Promise.all(Array.from({ length: 10 }, () => attempt(r.port)));
    assert.is(got.filter((g) => g === 'served').length, 4);
    assert.is(r.scada.stats.refused.rate, 6);
  } finally {
    await r.close();
  }
});

test('A half-open connection (a frame begun, never finished) is closed after partialMs; an idle one after idleMs', async () => {
  const r = await scadaRig({ limits: { partialMs: 2000, idleMs: 30_000 } });
  try {
    const half = await r.rtu();
    const idle = await r.rtu();
    await idle.readRegisters(0, 1);
    half.raw(Buffer.from('0001000000060103', 'hex'));
    await until(() => r.scada.stats.requests === 1, 'the read counted');
    await new Promise((res) => setTimeout(res, 50)); // the half frame has reached the server
    await r.run(2500);
    await until(() => half.closed, 'the half-open connection closed');
    assert.not.ok(idle.closed);
    await r.run(30_000);
    await until(() => idle.closed, 'the idle connection closed');
    assert.is(r.scada.stats.timeouts, 2);
  } finally {
    await r.close();
  }
});

test('/metrics text counts SCADA requests, writes and exceptions', async () => {
  const r = await scadaRig();
  try {
    await r.run(60_000);
    const rtu = await r.rtu();
    await rtu.readRegisters(0, 22);
    await rtu.writeCoil(0, true);
    await rtu.writeCoil(0, false);
    await rtu.writeRegisters(100, [...f32Words(1), 20]);
    await rtu.readRegisters(50, 1);
    const text = scadaMetrics(r.scada.stats);
    assert.match(text, /^hashflex_scada_requests_total 5$/m);
    assert.match(text, /^hashflex_scada_writes_total\{what="curtail"\} 1$/m);
    assert.match(text, /^hashflex_scada_writes_total\{what="release"\} 1$/m);
    assert.match(text, /^hashflex_scada_writes_total\{what="cap"\} 1$/m);
    assert.match(text, /^hashflex_scada_writes_total\{what="lease"\} 1$/m);
    assert.match(text, /^hashflex_scada_exceptions_total\{code="2"\} 1$/m);
    assert.match(text, /^hashflex_scada_connections 1$/m);
    assert.match(text, /^hashflex_scada_listening 1$/m);
  } finally {
    await r.close();
  }
});

test.run();
