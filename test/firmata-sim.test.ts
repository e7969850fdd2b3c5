import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HostParser, encodeAnalog, encodeCapabilities, encodeDigitalPort, encodeFirmware, type HostMessage } from '../sim/firmata-codec';

const parse = (bytes: number[]) => {
  const p = new HostParser();
  const out: HostMessage[] = [];
  p.feed(Uint8Array.from(bytes), (m) => out.push(m));
  return { out, dropped: p.dropped };
};

test('The sim parses every host message StandardFirmata handles', () => {
  const { out, dropped } = parse([
    0xf9, //                           report version
    0xf4, 0x02, 0x01, //               pin 2 OUTPUT
    0x90, 0x04, 0x01, //               port 0 = 0x84
    0xe9, 0x00, 0x01, //               analog (PWM) pin 9 = 128
    0xc3, 0x01, //                     report analog A3 on
    0xd0, 0x01, //                     report digital port 0 on
    0xf5, 0x07, 0x01, //               set pin 7 = 1
    0xf0, 0x6f, 0x2c, 0x7f, 0x01, 0xf7, // extended analog pin 44 = 255
    0xff, //                           system reset
  ]);
  assert.is(dropped, 0);
  assert.equal(out, [
    { kind: 'version' },
    { kind: 'pin-mode', pin: 2, mode: 1 },
    { kind: 'digital', port: 0, mask: 0x84 },
    { kind: 'analog', pin: 9, value: 128 },
    { kind: 'report-analog', channel: 3, on: true },
    { kind: 'report-digital', port: 0, on: true },
    { kind: 'pin-value', pin: 7, value: 1 },
    { kind: 'sysex', command: 0x6f, data: [0x2c, 0x7f, 0x01] },
    { kind: 'reset' },
  ]);
});

test('Garbage and cut-short messages are dropped and counted, and parsing resumes', () => {
  const { out, dropped } = parse([0x12, 0x34, 0xe9, 0x00, 0xf4, 0x02, 0x01, 0x99]);
  assert.equal(out, [{ kind: 'pin-mode', pin: 2, mode: 1 }]);
  assert.is(dropped, 4);
});

test('The sim encodes reports as the protocol lays them out', () => {
  assert.is(encodeAnalog(0, 1023).toString('hex'), 'e07f07');
  assert.is(encodeDigitalPort(0, 0x80).toString('hex'), '900001');
  // "St" of StandardFirmata.ino as 7-bit pairs, version 2.5
  assert.is(encodeFirmware().subarray(0, 8).toString('hex'), 'f079020553007400');
  assert.is(encodeCapabilities([[], [{ mode: 1, bits: 1 }, { mode: 3, bits: 8 }]]).toString('hex'), 'f06c7f010103087ff7');
});

test.run();
