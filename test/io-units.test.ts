import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { analogChannel, celsiusToCounts, countsToCelsius } from '../drivers/io';
import { FirmataStreamMonitor } from '../drivers/io/monitor';
import { withDefaults } from '../drivers/io/options';

const near = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

test('The thermistor reads 25 °C at mid-scale (R = R0 = series resistor)', () => {
  near(countsToCelsius(511.5), 25, 1e-9, 'mid-scale');
});

test('The thermistor conversion matches the 10 kΩ B3950 table within a tenth of a degree', () => {
  // R(T) = 10k · exp(3950 · (1/T − 1/298.15)); counts = 1023 · R / (R + 10k)
  // 0 °C: R = 33 621 Ω -> 788.48 counts; 50 °C: 3588 Ω -> 270.14; 100 °C: 698 Ω -> 66.70
  near(countsToCelsius(788.48), 0, 0.05, '0 °C');
  near(countsToCelsius(270.14), 50, 0.05, '50 °C');
  near(countsToCelsius(66.70), 100, 0.05, '100 °C');
});

test('Round trip through counts stays within the ADC quantisation over 0-100 °C', () => {
  for (let t = 0; t <= 100; t += 5) near(countsToCelsius(celsiusToCounts(t)), t, 0.6, `${t} °C`);
});

test('A reading at the rails (open or shorted thermistor) is unknown, not a temperature', () => {
  for (const raw of [0, 1023, -1, 2000, NaN]) assert.ok(Number.isNaN(countsToCelsius(raw)), String(raw));
});

test('Options fill documented defaults and take thermistor constants from config', () => {
  const o = withDefaults({
    serial: { path: '/dev/ttyACM0' },
    enable: { hb0: 2 },
    fans: [{ id: 'f', pwm_pin: 9, tach_pin: 'A0' }],
    thermistors: [{ id: 't', pin: 'A4', beta: 3435, series_ohm: 4700 }],
  });
  assert.equal(o.serial, { path: '/dev/ttyACM0', baud: 57600 }); // StandardFirmata's Firmata.begin(57600)
  assert.equal(o.fans[0], { id: 'f', pwmPin: 9, tachChannel: 0, fullScaleRpm: 10_000 });
  assert.equal(o.thermistors[0], { id: 't', channel: 4, curve: { beta: 3435, r0: 10_000, t0C: 25, rSeries: 4700 } });
  assert.equal([o.sampleMs, o.watchdogMs, o.handshakeMs], [100, 1500, 3000]);
});

test('Analog pin names parse as channels and bad names are refused', () => {
  assert.is(analogChannel('A0'), 0);
  assert.is(analogChannel('a15'), 15);
  assert.is(analogChannel(3), 3);
  for (const bad of ['A16', 'D3', '', 'A', -1, 1.5]) assert.throws(() => analogChannel(bad as never), String(bad));
});

test('The stream monitor counts good frames and garbage, and resyncs on a cut-short frame', () => {
  const m = new FirmataStreamMonitor();
  // analog A0 = 300, digital port 0 = 0x80, version 2.5, a sysex, then a cut analog and junk
  const n = m.feed(Uint8Array.from([0xe0, 0x2c, 0x02, 0x90, 0x00, 0x01, 0xf9, 0x02, 0x05, 0xf0, 0x79, 0x02, 0x05, 0xf7]));
  assert.is(n, 4);
  assert.is(m.garbage, 0);
  m.feed(Uint8Array.from([0xe1, 0x10])); // analog cut short by ...
  m.feed(Uint8Array.from([0x91, 0x01, 0x00])); // ... a new digital message
  assert.is(m.frames, 5);
  assert.is(m.resyncs, 1);
  assert.is(m.garbage, 2);
  m.feed(Uint8Array.from([0x05, 0xff, 0xa0, 0x7f]));
  assert.is(m.garbage, 6);
  assert.is(m.frames, 5);
});

test('A frame split across reads is still one frame', () => {
  const m = new FirmataStreamMonitor();
  for (const b of [0xf0, 0x6c, 0x00, 0x01, 0x7f, 0xf7, 0xe3]) m.feed(Uint8Array.from([b]));
  m.feed(Uint8Array.from([0x7f]));
  assert.is(m.frames, 1);
  m.feed(Uint8Array.from([0x07]));
  assert.is(m.frames, 2);
  assert.is(m.garbage, 0);
});

test.run();
