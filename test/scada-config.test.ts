import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, configWarnings, validateConfig } from '../agent/config';

/** `scada:` (DESIGN.md §8): defaults, and every problem reported with its precise path. */
const base = {
  agent: { id: 'a1' },
  meter: { tcp: '127.0.0.1:502' },
  boards: [{ id: 'hb0', serial: { path: '/dev/ttyUSB0' } }],
};

function problems(scada: unknown): string[] {
  try {
    validateConfig({ ...base, scada });
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

test('A scada section with only listen gets the documented defaults (unit 1, writes on, 60 s lease, loopback clients)', () => {
  const c = validateConfig({ ...base, scada: { listen: '127.0.0.1:1502' } });
  assert.equal(c.scada, { listen: '127.0.0.1:1502', unit: 1, write: true, cap_ttl_s: 60 });
  assert.is(validateConfig(base).scada, undefined, 'no section, no server');
});

test('Every scada problem is reported at its own path', () => {
  assert.equal(problems({ listen: '0.0.0.0:1502', unit: 256, write: 'yes', cap_ttl_s: 0, allow: ['10.0.0.0/33', 'rtu.local'], port: 502 }), [
    'scada.unit: must be 0..255, got 256',
    'scada.allow[0]: prefix /33 is longer than 32 bits',
    'scada.allow[1]: "rtu.local" is not an IPv4 or IPv6 address',
    'scada.write: expected true or false, got "yes"',
    'scada.cap_ttl_s: must be 1..86400 s, got 0',
    'scada.port: unknown key (allowed here: listen, unit, allow, write, cap_ttl_s)',
  ]);
  assert.equal(problems({}), ['scada.listen: is required']);
  assert.equal(problems({ listen: '1502' }), ['scada.listen: expected "HOST:PORT" with a port 1..65535']);
  assert.equal(problems({ listen: '0.0.0.0:1502', allow: [] }), ['scada.allow: at least one address or CIDR']);
});

test('A listen address other than loopback needs an explicit allow list: Modbus has no authentication', () => {
  assert.equal(problems({ listen: '0.0.0.0:1502' }), ['scada.allow: required unless scada.listen is a loopback address: list the RTU\'s addresses (e.g. ["10.0.4.20/32"])']);
  assert.equal(problems({ listen: '0.0.0.0:1502', allow: ['10.0.4.20/32', 'fd00::/8', '192.168.1.9'] }), []);
  assert.equal(problems({ listen: '[::1]:1502' }), []);
});

test('Port 502 is valid but warned about: the packaged service cannot bind it', () => {
  const c = validateConfig({ ...base, scada: { listen: '0.0.0.0:502', allow: ['10.0.4.20'] } });
  assert.ok(configWarnings(c).some((w) => /^scada\.listen: port 502 needs root or CAP_NET_BIND_SERVICE/.test(w)));
  const ok = validateConfig({ ...base, scada: { listen: '0.0.0.0:1502', allow: ['10.0.4.20'] } });
  assert.not.ok(configWarnings(ok).some((w) => w.startsWith('scada')));
});

test.run();
