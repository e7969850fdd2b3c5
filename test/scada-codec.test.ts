import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VirtualClock } from '../agent/clock';
import { adu, decodeRequest, MbapSplitter, type Frame } from '../agent/grid/scada/codec';
import { ScadaDevice, type ScadaPort } from '../agent/grid/scada/device';
import { allowList, cidrProblem } from '../agent/grid/scada/allow';

/**
 * The SCADA server's codec and device as pure code: golden frames annotated byte by byte
 * (Modbus Application Protocol v1.1b3 §6, MBAP of the TCP/IP Implementation Guide v1.0b), the
 * splitter against any cut of the stream, and every refusal with its exception code.
 */
const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** a port double that records what the device asked of the site */
function fakePort() {
  const calls: string[] = [];
  let curtailed = false;
  let cap: number | undefined;
  let resolveCurtail: ((notOff: string[]) => void) | undefined;
  const port: ScadaPort = {
    values: () => ({
      state: curtailed ? 1 : 0, trip_sources: curtailed ? 128 : 0, mode: 1, heartbeat_s: 70000.9, grid_hz: 59.95, grid_kw: -1.25, miners_kw: 3.5,
      target_kw: 3.5, flexible_kw: 3.5, capacity_kw: 12, last_trip_latency_ms: Number.NaN, trips: 2, cap_kw: cap ?? Number.NaN,
    }),
    curtailed: () => curtailed,
    curtail: () => { calls.push('curtail'); curtailed = true; return new Promise((r) => { resolveCurtail = r; }); },
    endCurtail: () => { calls.push('end'); curtailed = false; },
    setCap: (kw, ttl) => { calls.push(`cap ${kw} ${ttl}`); cap = kw; },
    clearCap: () => { calls.push('clear'); cap = undefined; },
  };
  return { port, calls, boardsOff: (notOff: string[] = []) => resolveCurtail?.(notOff) };
}

function device(write = true) {
  const f = fakePort();
  const clock = new VirtualClock();
  return { ...f, clock, dev: new ScadaDevice(f.port, { write, capTtlS: 60, curtailTimeoutMs: 5000 }, clock) };
}

test('A read of the first four holding registers: request 03 0000 0004, reply 03 08 + four big-endian words', () => {
  const { dev } = device();
  const reply = dev.handle(hex('03 0000 0004')) as Buffer;
  //              fn  bytes  version state  sources mode
  assert.equal(reply, hex('03  08    0001    0000   0000    0001'));
});

test('32-bit values are big-endian, high word first: heartbeat u32 and grid frequency f32', () => {
  const { dev } = device();
  // heartbeat 70000 s = 0x00011170; 59.95 Hz = 0x426FCCCD
  assert.equal(dev.handle(hex('04 0004 0004')) as Buffer, hex('04 08  0001 1170  426F CCCD'));
  // unknown figures read NaN (0x7FC00000), not zero: last trip latency, and the cap when none
  assert.equal(dev.handle(hex('03 0012 0002')) as Buffer, hex('03 04 7FC0 0000'));
  assert.equal(dev.handle(hex('03 0064 0003')) as Buffer, hex('03 06 7FC0 0000 0000'));
});

test('The MBAP header: transaction id echoed, protocol 0, length = unit + PDU, unit echoed', () => {
  //                        tid   proto len  unit | fn  addr value
  assert.equal(adu(0x1234, 1, hex('05 0000 FF00')), hex('1234 0000 0006 01    05 0000 FF00'));
});

test('A coil write of 1 is answered only once the port says every board is off, echoing the request', async () => {
  const d = device();
  const reply = d.dev.handle(hex('05 0000 FF00'));
  assert.ok(reply instanceof Promise, 'the reply waits');
  let settled = false;
  void (reply as Promise<Buffer>).then(() => { settled = true; });
  await new Promise((r) => setImmediate(r));
  assert.is(settled, false, 'no reply while boards are still going off');
  assert.equal(d.calls, ['curtail']);
  d.boardsOff();
  assert.equal(await reply, hex('05 0000 FF00'));
  assert.equal(d.dev.handle(hex('01 0000 0001')) as Buffer, hex('01 01 01'), 'coil 0 reads 1 while in force');
  assert.equal(d.dev.handle(hex('05 0000 0000')) as Buffer, hex('05 0000 0000'), 'a 0 is answered at once');
  assert.equal(d.calls, ['curtail', 'end']);
});

test('A curtail whose boards cannot all be confirmed off is answered 04 (server device failure); the curtailment stands', async () => {
  const d = device();
  const reply = d.dev.handle(hex('0F 0000 0001 01 01')) as Promise<Buffer>;
  d.boardsOff(['hb2: link closed']);
  assert.equal(await reply, hex('8F 04'));
  assert.equal(d.dev.handle(hex('01 0000 0001')) as Buffer, hex('01 01 01'));
  const late = device();
  const r2 = late.dev.handle(hex('05 0000 FF00')) as Promise<Buffer>;
  late.clock.advance(5000);
  assert.equal(await r2, hex('85 04'), 'not off within curtailTimeoutMs');
});

test('A cap with its lease in one FC 16 over 100..102: the lease applies to that cap; lease 0 means cap_ttl_s', () => {
  const d = device();
  //                                 addr qty  n   2.5 kW (0x40200000)  lease 30
  assert.equal(d.dev.handle(hex('10 0064 0003 06  4020 0000  001E')) as Buffer, hex('10 0064 0003'));
  assert.equal(d.calls, ['cap 2.5 30']);
  assert.equal(d.dev.handle(hex('03 0064 0003')) as Buffer, hex('03 06 4020 0000 001E'));
  d.dev.handle(hex('06 0066 0000'));
  d.dev.handle(hex('10 0064 0002 04 3F80 0000'));
  assert.equal(d.calls.at(-1), 'cap 1 60');
  d.dev.handle(hex('10 0064 0002 04 7FC0 0000')); // NaN
  d.dev.handle(hex('10 0064 0002 04 BF80 0000')); // -1
  assert.equal(d.calls.slice(-2), ['clear', 'clear']);
});

const refusals: [string, string, string][] = [
  ['a write to a read-only register', '06 0000 0005', '86 02'],
  ['a write of half of the 32-bit cap (FC 06 to 100)', '06 0064 4020', '86 02'],
  ['a write of the cap\'s low word and the lease (101..102)', '10 0065 0002 04 0000 001E', '90 02'],
  ['a write of the cap\'s high word alone', '10 0064 0001 02 4020', '90 02'],
  ['a write that runs past the map (102..103)', '10 0066 0002 04 001E 0000', '90 02'],
  ['a cap of +Inf', '10 0064 0002 04 7F80 0000', '90 03'],
  ['a cap above 1e6 kW', '10 0064 0002 04 4A00 0000', '90 03'],
  ['a coil value other than 0x0000 or 0xFF00', '05 0000 1234', '85 03'],
  ['a write to coil 1', '05 0001 FF00', '85 02'],
  ['two coils', '0F 0000 0002 01 03', '8F 02'],
  ['an FC 15 whose byte count does not match', '0F 0000 0001 02 01 00', '8F 03'],
  ['a read of unmapped 22', '03 0016 0001', '83 02'],
  ['a read across the gap 20..100', '03 0014 0051', '83 02'],
  ['a read of quantity 0', '03 0000 0000', '83 03'],
  ['a read of 126 registers', '04 0000 007E', '84 03'],
  ['a read of coil 1', '01 0001 0001', '81 02'],
  ['a truncated PDU', '03 0000', '83 03'],
  ['discrete inputs (FC 02), not served', '02 0000 0001', '82 01'],
  ['an unknown function (FC 43)', '2B 0E 01 00', 'AB 01'],
];

for (const [what, req, want] of refusals) {
  test(`Refused, nothing changed: ${what} -> exception ${want.slice(-2)}`, () => {
    const d = device();
    const before = JSON.stringify(d.dev.values());
    assert.equal(d.dev.handle(hex(req)) as Buffer, hex(want));
    assert.equal(d.calls, []);
    assert.is(JSON.stringify(d.dev.values()), before);
  });
}

test('With write: false every write function is refused 01 before its form is even checked; reads still work', () => {
  const d = device(false);
  for (const req of ['05 0000 FF00', '05 0000 1234', '0F 0000 0001 01 01', '06 0066 001E', '10 0064 0002 04 4020 0000']) {
    const fn = hex(req)[0];
    assert.equal(d.dev.handle(hex(req)) as Buffer, Buffer.from([fn | 0x80, 1]), req);
  }
  assert.equal(d.calls, []);
  assert.equal(d.dev.handle(hex('03 0000 0001')) as Buffer, hex('03 02 0001'));
});

test('The splitter finds every frame however TCP cuts the stream, and holds at most one partial frame', () => {
  const frames = [hex('0001 0000 0006 01 03 0000 0016'), hex('0002 0000 0006 01 05 0000 FF00'), hex('0003 0000 0009 01 10 0064 0001 02 0000')];
  const all = Buffer.concat(frames);
  for (let cut1 = 0; cut1 <= all.length; cut1++) {
    for (const cut2 of [cut1, Math.min(all.length, cut1 + 1), Math.min(all.length, cut1 + 7)]) {
      const s = new MbapSplitter();
      const got: string[] = [];
      const on = (f: Frame) => { got.push(`${f.tid}:${f.unit}:${f.pdu.toString('hex')}`); };
      for (const part of [all.subarray(0, cut1), all.subarray(cut1, cut2), all.subarray(cut2)]) assert.is(s.push(part, on), undefined);
      assert.equal(got, ['1:1:0300000016', '2:1:050000ff00', '3:1:1000640001020000'], `cuts ${cut1}/${cut2}`);
      assert.is(s.pending, 0);
    }
  }
});

test('A header that is not Modbus TCP (protocol id, length 0 or over 254) is reported, so the connection can be closed', () => {
  assert.match(new MbapSplitter().push(hex('0001 0001 0006 01 03 0000 0001'), () => {}) ?? '', /protocol id 1/);
  assert.match(new MbapSplitter().push(hex('0001 0000 0000 01'), () => {}) ?? '', /length 0/);
  assert.match(new MbapSplitter().push(hex('0001 0000 00FF 01'), () => {}) ?? '', /length 255/);
  const s = new MbapSplitter();
  assert.is(s.push(hex('0001 00'), () => {}), undefined, 'undecided until the header is whole');
  assert.match(s.push(hex('07 0006 01'), () => {}) ?? '', /protocol id 7/);
});

test('Requests decode to plain values: FC 15 bits LSB first, FC 16 registers', () => {
  assert.equal(decodeRequest(hex('0F 0000 0003 01 05')), { fn: 15, addr: 0, qty: 3, bits: [true, false, true] });
  assert.equal(decodeRequest(hex('10 0064 0002 04 4020 0000')), { fn: 16, addr: 100, qty: 2, values: [0x4020, 0] });
});

test('scada.allow: CIDRs and bare addresses, IPv4 clients of a dual-stack listener, nothing else', () => {
  const a = allowList(['10.0.4.0/24', '192.168.1.20', 'fd00::/8']);
  assert.ok(a.allows('10.0.4.77'));
  assert.ok(a.allows('::ffff:10.0.4.1'));
  assert.ok(a.allows('192.168.1.20'));
  assert.not.ok(a.allows('192.168.1.21'));
  assert.ok(a.allows('fd12::5'));
  assert.not.ok(a.allows('fe80::1'));
  assert.not.ok(a.allows(undefined));
  assert.match(cidrProblem('10.0.0.0/33') ?? '', /longer than 32/);
  assert.match(cidrProblem('10.0.0.300') ?? '', /not an IPv4 or IPv6 address/);
  assert.is(cidrProblem('::1/128'), undefined);
});

test.run();
