import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as c from '../drivers/hashboard/codec';
import { crc16False, crc5 } from '../drivers/hashboard/crc';
import { commandSplitter, responseSplitter } from '../drivers/hashboard/framing';
import { MODELS, wattsPerChip } from '../drivers/hashboard/models';

/** golden frames from the bitaxe firmware (components/asic/bm1366.c and bm1370.c) and its bug tracker */
const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const GOLDEN = {
  // 55 AA  preamble (host -> chip)
  // 52     header: TYPE_CMD 0x40 | GROUP_ALL 0x10 | CMD_READ 0x02
  // 05     length: header + length + 2 data + crc
  // 00     chip address (ignored for GROUP_ALL)
  // 00     register 0x00 = chip id
  // 0A     crc5(52 05 00 00)
  readChipIdAll: hex('55 AA 52 05 00 00 0A'),
  // 53 = TYPE_CMD | GROUP_ALL | CMD_INACTIVE; 00 00 = no address/register; 03 = crc5
  chainInactive: hex('55 AA 53 05 00 00 03'),
  // 40 = TYPE_CMD | CMD_SETADDRESS (single); 00 = new address; 00 = unused; 1C = crc5
  setAddress0: hex('55 AA 40 05 00 00 1C'),
  // 51 = TYPE_CMD | GROUP_ALL | CMD_WRITE; 09 = length; 00 = address; A8 = register;
  // 00 07 00 00 = value, big-endian; 03 = crc5   (bm1366.c init4)
  writeA8: hex('55 AA 51 09 00 A8 00 07 00 00 03'),
  // 41 = single-chip write to chip 00, register 2C value 00 7C 00 03   (bm1366.c init171)
  write2cChip0: hex('55 AA 41 09 00 2C 00 7C 00 03 03'),
  // ticket mask register 14 for difficulty 256: 00 00 00 FF, crc 08   (bm1370.c comment init11)
  ticketMask256: hex('55 AA 51 09 00 14 00 00 00 FF 08'),
  // AA 55  preamble (chip -> host); 13 66 = chip id; 00 core; 00 ...; 00 address; 00 register;
  // 00 00 unused; 05 = flags (bit 7 clear: register reply) and crc5 in the low five bits
  bm1366ChipId: hex('AA 55 13 66 00 00 00 00 00 00 05'),
  bm1368ChipId: hex('AA 55 13 68 00 00 00 00 00 00 0F'),
  bm1370ChipId: hex('AA 55 13 70 00 00 00 00 00 00 10'),
};

test('the read-chip-id, chain-inactive and set-address frames match the firmware byte for byte', () => {
  assert.equal(c.readChipId(), GOLDEN.readChipIdAll);
  assert.equal(c.chainInactive(), GOLDEN.chainInactive);
  assert.equal(c.setAddress(0), GOLDEN.setAddress0);
});

test('register writes to all chips and to one chip match the firmware byte for byte', () => {
  assert.equal(c.writeReg(0xa8, 0x00070000), GOLDEN.writeA8);
  assert.equal(c.writeReg(0x2c, 0x007c0003, 0), GOLDEN.write2cChip0);
  assert.equal(c.writeReg(c.REG_TICKET_MASK, c.ticketMask(256)), GOLDEN.ticketMask256);
});

test('chip-id replies of all three models are built and accepted byte for byte', () => {
  assert.equal(c.regResponse(0x13660000, 0, 0), GOLDEN.bm1366ChipId);
  assert.equal(c.regResponse(0x13680000, 0, 0), GOLDEN.bm1368ChipId);
  assert.equal(c.regResponse(0x13700000, 0, 0), GOLDEN.bm1370ChipId);
  for (const f of [GOLDEN.bm1366ChipId, GOLDEN.bm1368ChipId, GOLDEN.bm1370ChipId]) assert.ok(c.responseCrcOk(f));
  assert.equal(c.decodeResponse(GOLDEN.bm1366ChipId), { kind: 'reg', value: 0x13660000, addr: 0, reg: 0 });
});

test('CRC5 starts at 0x1F with polynomial x^5+x^2+1 and CRC16 is CCITT-FALSE', () => {
  assert.is(crc5(Buffer.from([0x52, 0x05, 0x00, 0x00])), 0x0a);
  assert.is(crc5(Buffer.alloc(0)), 0x1f);
  assert.is(crc16False(Buffer.from('123456789')), 0x29b1);
});

test('a flipped bit anywhere in a reply fails its CRC', () => {
  const f = c.regResponse(0x12345678, 0x40, 0x8c);
  for (let i = 2 * 8; i < 11 * 8; i++) {
    const g = Buffer.from(f);
    g[i >> 3] ^= 0x80 >> (i & 7);
    assert.not.ok(c.responseCrcOk(g), `bit ${i}`);
  }
});

test('a nonce reply carries the job id, flag bit 7 and the chip address in nonce bits 17..24', () => {
  const f = c.nonceResponse((0x15 << 25) | (0x04 << 17) | 0x123, 0x28, 0x1234);
  assert.ok(c.responseCrcOk(f));
  assert.ok((f[10] & 0x80) !== 0);
  const r = c.decodeResponse(f);
  assert.equal(r, { kind: 'nonce', nonce: ((0x15 << 25) | (0x04 << 17) | 0x123) >>> 0, midstate: 0, jobId: 0x28, version: 0x1234, chipAddr: 4 });
});

test('job frames carry a big-endian CRC-16/CCITT-FALSE over header, length and data', () => {
  const f = c.workFrame({ jobId: 8, startingNonce: 0, nbits: 0x17030ecd, ntime: 1, merkleRoot: new Uint8Array(32), prevHash: new Uint8Array(32), version: 0x20000000 });
  assert.is(f.length, 88);
  assert.equal([...f.subarray(0, 6)], [0x55, 0xaa, 0x21, 0x56, 0x08, 0x01]); // preamble, job|write, len 86, id, midstates
  assert.is(f.readUInt16BE(86), crc16False(f.subarray(2, 86)));
  const cmd = c.decodeCommand(f)!;
  assert.ok(cmd.job);
  assert.is(cmd.data.length, 82);
  f[20] ^= 1;
  assert.is(c.decodeCommand(f), undefined);
});

test('PLL dividers from the 25 MHz reference follow the firmware and decode back', () => {
  const s = MODELS.bm1366;
  const p = c.pllFor(485, s); // 25 * 194 / (2 * 5 * 1) = 485
  assert.equal([p.fbDiv, p.refDiv, p.postDiv1, p.postDiv2, p.mhz], [194, 2, 5, 1, 485]);
  assert.equal(c.writeReg(c.REG_PLL0, p.value), hex('55 AA 51 09 00 08 50 C2 02 40 1C')); // vdo 0x50: VCO 2425 MHz
  assert.is(c.pllMhz(p.value), 485);
  assert.is(c.pllMhz(c.pllFor(50, s).value), 50);
  for (let f = 50; f <= 575; f += 6.25) assert.ok(Math.abs(c.pllMhz(c.pllFor(f, s).value) - f) < 1.5, `${f} MHz`);
  assert.throws(() => c.pllFor(5, s), RangeError);
});

test('the ticket mask and the difficulty it encodes round-trip', () => {
  for (const d of [1, 2, 64, 256, 1024, 65536]) assert.is(c.difficultyOfMask(c.ticketMask(d)), d);
  assert.is(c.ticketMask(300), c.ticketMask(256), 'rounded down to a power of two');
});

test('the reply splitter skips garbage, counts a resync and a CRC error, and keeps the good frames', () => {
  const got: Buffer[] = [];
  const s = responseSplitter((f) => got.push(f));
  const good = c.regResponse(1, 2, 0x8c);
  const bad = Buffer.from(good);
  bad[10] ^= 1;
  s.push(Buffer.concat([hex('13 AA 00 55 FE'), good, bad, good]));
  assert.is(got.length, 2);
  assert.equal(s.stats, { frames: 2, crcErrors: 1, resyncs: 1 });
});

test('a reply split across one-byte reads is reassembled', () => {
  const got: Buffer[] = [];
  const s = responseSplitter((f) => got.push(f));
  const f = Buffer.concat([c.regResponse(7, 0, 0x8c), c.nonceResponse(1, 8)]);
  for (const b of f) s.push(Buffer.from([b]));
  assert.is(got.length, 2);
  assert.is(s.stats.resyncs, 0);
});

test('random bytes never throw and a good frame after them still gets through', () => {
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
  const got: Buffer[] = [];
  const r = responseSplitter((f) => got.push(f));
  const k = commandSplitter((f) => c.decodeCommand(f) !== undefined, (f) => got.push(f));
  for (let i = 0; i < 200; i++) {
    const junk = Buffer.from(Array.from({ length: 1 + (rnd() % 40) }, rnd));
    r.push(junk);
    k.push(junk);
  }
  got.length = 0;
  r.push(Buffer.concat([Buffer.alloc(12), c.regResponse(5, 0, 0)]));
  k.push(Buffer.concat([Buffer.alloc(100), c.chainInactive()]));
  assert.is(got.length, 2);
});

test('the power curve is nominal at the stock frequency and zero when not clocked', () => {
  assert.is(wattsPerChip(MODELS.bm1366, 485), 12);
  assert.is(wattsPerChip(MODELS.bm1366, 0), 0);
  assert.ok(wattsPerChip(MODELS.bm1370, 300) < wattsPerChip(MODELS.bm1370, 400));
});

test.run();
