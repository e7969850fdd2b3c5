import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, validateConfig } from '../agent/config';
import { nearest } from '../agent/config-messages';

/**
 * Config problems say what is allowed at the key, in the one-line `path.to.key: what is wrong`
 * form: the choices, a number's bounds and unit, a string's form, and for an unknown key the
 * key that was probably meant.
 */
const good = {
  agent: { id: 'a1' },
  meter: { tcp: '127.0.0.1:502' },
  boards: [{ id: 'hb0', serial: { path: '/dev/ttyUSB0' } }],
};

function problems(doc: Record<string, unknown>): string[] {
  try {
    validateConfig({ ...good, ...doc });
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

test('a literal choice lists its values: grid.nominal_hz must be 50 or 60', () => {
  assert.equal(problems({ grid: { nominal_hz: 55 } }), ['grid.nominal_hz: must be 50 or 60, got 55']);
  assert.equal(problems({ grid: { nominal_hz: '60' } }), ['grid.nominal_hz: must be 50 or 60, got "60"']);
});

test('an enum lists its choices, and a near miss says which was meant', () => {
  assert.equal(problems({ control: { mode: 'max' } }), ['control.mode: expected one of "surplus", "setpoint", "heat", "off", got "max"']);
  assert.equal(problems({ control: { mode: 'surplsu' } }), ['control.mode: expected one of "surplus", "setpoint", "heat", "off", got "surplsu"; did you mean "surplus"?']);
  assert.equal(problems({ grid: { relay: { pin: 7, active: 'LOW' } }, io: { path: '/dev/ttyACM0' } }),
    ['grid.relay.active: expected one of "low", "high", got "LOW"; did you mean "low"?']);
});

test('a number out of range gives both bounds, the unit of its key, and the value given', () => {
  assert.equal(problems({ meter: { tcp: '127.0.0.1:502', poll_ms: 5 } }), ['meter.poll_ms: must be 10..60000 ms, got 5']);
  assert.equal(problems({ meter: { tcp: '127.0.0.1:502', poll_ms: 70_000, backoff_max_ms: 100_000 } }), ['meter.poll_ms: must be 10..60000 ms, got 70000']);
  assert.equal(problems({ control: { max_kw: -1 } }), ['control.max_kw: must be 0..100000 kW, got -1']);
  assert.equal(problems({ control: { trip_c: 200 } }), ['control.trip_c: must be 20..150 °C, got 200']);
  assert.equal(problems({ grid: { underfrequency: { trip_hz: 30 } } }), ['grid.underfrequency.trip_hz: must be 40..70 Hz, got 30']);
  assert.equal(problems({ ledger: { interval_s: 5 } }), ['ledger.interval_s: must be 10..3600 s, got 5']);
  assert.equal(problems({ boards: [{ id: 'hb0', serial: { path: '/dev/ttyUSB0' }, chips: 0 }] }), ['boards[0].chips: must be 1..256, got 0']);
  // only a lower bound, exclusive
  assert.equal(problems({ thermistors: [{ id: 't0', pin: 'A1', r0_ohm: 0 }], io: { path: '/dev/ttyACM0' } }), ['thermistors[0].r0_ohm: must be above 0 Ω, got 0']);
});

test('a wrong type says what the key takes', () => {
  assert.equal(problems({ control: { stagger_ms: 2.5 } }), ['control.stagger_ms: expected a whole number 0..600000 ms, got 2.5']);
  assert.equal(problems({ meter: { tcp: '127.0.0.1:502', poll_ms: 'fast' } }), ['meter.poll_ms: expected a whole number 10..60000 ms, got "fast"']);
  assert.equal(problems({ meter: { tcp: 502 } }), ['meter.tcp: expected "HOST:PORT" with a port 1..65535, got number']);
  assert.equal(problems({ scada: { listen: '127.0.0.1:1502', write: 'yes' } }), ['scada.write: expected true or false, got "yes"']);
  assert.equal(problems({ grid: 'x' }), ['grid: expected a map with nominal_hz, underfrequency, relay, got string']);
});

test('an analog pin says what one looks like', () => {
  const io = { path: '/dev/ttyACM0' };
  assert.equal(problems({ io, fans: [{ id: 'f0', pwm_pin: 9, tach_pin: 'B1' }] }), ['fans[0].tach_pin: expected an analog pin like "A0"']);
  assert.equal(problems({ io, fans: [{ id: 'f0', pwm_pin: 9, tach_pin: 3 }] }), ['fans[0].tach_pin: expected an analog pin like "A0", got number']);
});

test('an unknown key is reported at its own path with the nearest allowed key', () => {
  assert.equal(problems({ control: { mdoe: 'heat' } }), ['control.mdoe: unknown key; did you mean "mode"?']);
  assert.equal(problems({ uplnk: { url: 'ws://h:1' } }), ['uplnk: unknown key; did you mean "uplink"?']);
  assert.equal(problems({ boards: [{ id: 'hb0', serial: { path: '/dev/ttyUSB0' }, enabel_pin: 3 }] }), ['boards[0].enabel_pin: unknown key; did you mean "enable_pin"?']);
  assert.equal(problems({ control: { heat: { sensr: 'hb0' } } }), ['control.heat.sensr: unknown key; did you mean "sensor"?']);
  assert.equal(problems({ uplink: { url: 'ws://h:1', Token: 'abcdefghijk' } }), ['uplink.Token: unknown key; did you mean "token"?']);
  // inside a union ({ path, baud } or { tcp }): the keys of both shapes count
  assert.equal(problems({ io: { path: '/dev/ttyACM0', sample_m: 100 } }), ['io.sample_m: unknown key; did you mean "sample_ms"?']);
  assert.equal(problems({ io: { pth: '/dev/ttyACM0' } }), ['io: expected { path, baud } or { tcp: "HOST:PORT" }', 'io.pth: unknown key; did you mean "path"?']);
});

test('an unknown key with no near match lists the keys allowed there', () => {
  assert.equal(problems({ scada: { listen: '127.0.0.1:1502', port: 502 } }), ['scada.port: unknown key (allowed here: listen, unit, allow, write, cap_ttl_s)']);
  const [line] = problems({ colour: 'blue' });
  assert.match(line, /^colour: unknown key \(allowed here: agent, meter, boards, miners, io, .*storage\)$/);
  // a key that is no plain name stays quoted in the message, and the problem stays one line
  const odd = problems({ 'a\nb': 1 });
  assert.is(odd.length, 1);
  assert.match(odd[0], /^\(top level\): unknown key "a\\nb" \(allowed here: /);
});

test('nearest: a typo within two edits (a third of the name), case ignored; nothing for a different word', () => {
  assert.is(nearest('mdoe', ['mode', 'max_kw']), 'mode');
  assert.is(nearest('MODE', ['mode']), 'mode');
  assert.is(nearest('pol_ms', ['poll_ms', 'stale_ms']), 'poll_ms');
  assert.is(nearest('io', ['id']), undefined);
  assert.is(nearest('colour', ['control', 'local']), undefined);
  assert.is(nearest('port', ['listen', 'unit', 'allow', 'write']), undefined);
});

test('secrets are never echoed: a token of the wrong type or length is described, not shown', () => {
  const p = problems({ uplink: { url: 'ws://h:1', token: 98765432101 } });
  assert.equal(p, ['uplink.token: expected a string, got number']);
  const q = problems({ uplink: { url: 'ws://h:1', token: 'sec' } });
  assert.is(q.length, 1);
  assert.not.ok(q[0].includes('sec"'), q[0]);
});

test('hashflex config check prints the same lines and exits 2', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hashflex-cfgmsg-'));
  try {
    const file = path.join(dir, 'agent.yaml');
    fs.writeFileSync(file, [
      'agent: { id: a1 }',
      'meter: { tcp: "127.0.0.1:502" }',
      'boards: [ { id: hb0, serial: { path: /dev/ttyUSB0 } } ]',
      'grid: { nominal_hz: 55 }',
      'control: { mdoe: heat }',
      '',
    ].join('\n'));
    const r = spawnSync(process.execPath, [path.join(__dirname, '..', 'bin', 'hashflex.js'), 'config', 'check', file], { encoding: 'utf8', env: { ...process.env, HASHFLEX_LOG: 'silent' } });
    assert.is(r.status, 2, r.stderr);
    assert.equal(r.stdout.trim().split('\n').sort(), ['control.mdoe: unknown key; did you mean "mode"?', 'grid.nominal_hz: must be 50 or 60, got 55']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
