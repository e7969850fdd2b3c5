import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { blockOf, decodePoint, meterMaps, sunspecMaps } from '../drivers/meter/maps';
import { discoverSunSpec } from '../drivers/meter/sunspec';
import { crc16, parseRtuRequests, withCrc } from '../sim/meter-frames';
import { imageFor, readImage } from '../sim/meter-image';
import { ImageReader } from './fixtures/meter/rig';

const reading = { hz: 59.95, w: -1234.5, importKwh: 100.25, exportKwh: 7.5 };

test('The SDM630 map reads Hz and total W as one 20-register block from 0x0034', () => {
  const m = meterMaps.sdm630;
  assert.equal(blockOf([m.fast.hz, m.fast.kw]), { addr: 0x34, count: 20 });
  const b = blockOf([m.fast.hz, m.fast.kw]);
  const regs = readImage(imageFor('sdm630', reading), b.addr, b.count)!;
  const raw = Buffer.alloc(regs.length * 2);
  regs.forEach((r, i) => raw.writeUInt16BE(r, i * 2));
  assert.ok(Math.abs(decodePoint(raw, b, m.fast.hz) - 59.95) < 1e-4);
  assert.ok(Math.abs(decodePoint(raw, b, m.fast.kw) - -1.2345) < 1e-6);
});

test('The simulated SDM630 answers exception 02 for unmapped addresses and wrong functions', () => {
  const img = imageFor('sdm630', reading);
  assert.equal(readImage(img, 0x36, 2), undefined);
  assert.equal(readImage(img, 0x1000, 2), undefined);
  assert.equal(readImage(img, 0x46, 200), undefined);
  assert.equal(img.fn, 4);
  assert.ok(readImage(img, 0x46, 2));
});

test('The simulated SunSpec map sits exactly where DESIGN.md places model 213 points', () => {
  const img = imageFor('sunspec', reading);
  const f = (a: number) => { const r = readImage(img, a, 2)!; const b = Buffer.alloc(4); b.writeUInt16BE(r[0], 0); b.writeUInt16BE(r[1], 2); return b.readFloatBE(0); };
  assert.equal(readImage(img, 40000, 2), [0x5375, 0x6e53]);
  assert.equal(readImage(img, 40002, 2), [1, 66]);
  assert.equal(readImage(img, 40070, 2), [213, 124]);
  assert.ok(Math.abs(f(40096) - 59.95) < 1e-4);
  assert.ok(Math.abs(f(40098) - -1234.5) < 1e-3);
  assert.ok(Math.abs(f(40130) - 7500) < 1e-2);
  assert.ok(Math.abs(f(40138) - 100250) < 1);
  assert.equal(readImage(img, 40196, 2), [0xffff, 0]);
  assert.equal(readImage(img, 40198, 2), undefined);
});

test('SunSpec discovery walks from model 1 to model 213, or to 203 with scale factors', async () => {
  for (const [model, id] of [['sunspec', 213], ['sunspec203', 203]] as const) {
    const r = new ImageReader(model);
    r.reading = reading;
    const found = await discoverSunSpec(r, 1, 100, sunspecMaps);
    assert.equal(found.models, [1, id]);
    assert.equal(found.base, 40072);
    const m = found.map;
    const b = blockOf([m.fast.hz, m.fast.kw], found.base);
    const raw = await r.read(1, 3, b.addr, b.count);
    assert.ok(Math.abs(decodePoint(raw, b, m.fast.hz, found.base) - 59.95) < 0.01, `${model} hz`);
    assert.ok(Math.abs(decodePoint(raw, b, m.fast.kw, found.base) - -1.2345) < 0.002, `${model} kw`);
  }
});

test('Integer SunSpec values marked "not implemented" decode to NaN', () => {
  const p = { addr: 0, type: 'i16' as const };
  assert.ok(Number.isNaN(decodePoint(Buffer.from([0x80, 0x00]), { addr: 0, count: 1 }, p)));
  const sf = { addr: 0, type: 'i16' as const, sf: 1 };
  assert.ok(Number.isNaN(decodePoint(Buffer.from([0, 5, 0, 99]), { addr: 0, count: 2 }, sf)));
  assert.equal(decodePoint(Buffer.from([0, 5, 0xff, 0xfe]), { addr: 0, count: 2 }, sf), 0.05);
});

test('The RTU request parser finds frames after line noise and counts bad CRCs', () => {
  // golden frame: unit 1, fn 04 (read input registers), addr 0x0046 (SDM630 Hz), count 2,
  // CRC-16/MODBUS 0x1E90 sent low byte first (checked against an independent Python CRC)
  const golden = Buffer.from([0x01, 0x04, 0x00, 0x46, 0x00, 0x02]);
  assert.equal(crc16(golden), 0x1e90);
  const frame = withCrc(golden);
  assert.equal([...frame.subarray(6)], [0x90, 0x1e]);
  const bad = Buffer.from(frame);
  bad[7] ^= 0xff;
  const { reqs, rest, crcErrors } = parseRtuRequests(Buffer.concat([Buffer.from([0x00, 0xff]), bad, frame, frame.subarray(0, 3)]));
  assert.equal(reqs, [{ unit: 1, fn: 4, addr: 0x46, count: 2 }]);
  assert.ok(crcErrors >= 1);
  assert.equal(rest.length, 3);
});

test.run();
