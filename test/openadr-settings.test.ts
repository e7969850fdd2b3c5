import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { openAdrSchema, toOpenAdrSettings } from '../agent/grid/openadr/settings';

/** The `openadr:` section (DESIGN.md §9): what it accepts, its defaults, what it refuses and why. */

const base = { vtn_url: 'https://vtn.example/openadr3/3.1.0', client_id: 'ven-north', client_secret_file: '/etc/hashflex/vtn.secret', ven_name: 'north-field' };
const problems = (doc: unknown) => {
  const r = openAdrSchema.safeParse(doc);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

test('The DESIGN.md §9 example is valid and reads into the settings the VEN runs on', () => {
  const c = openAdrSchema.parse({ ...base, resource_name: 'miners', programs: ['ers-30'], poll_s: 30, simple_levels: { 1: 0.5, 2: 0.25, 3: 0 }, max_price: 0.08 });
  const s = toOpenAdrSettings(c, 'the-secret');
  assert.equal(s, {
    vtnUrl: base.vtn_url, clientId: 'ven-north', clientSecret: 'the-secret', venName: 'north-field', resourceName: 'miners',
    programs: ['ers-30'], pollS: 30, simpleLevels: { 1: 0.5, 2: 0.25, 3: 0 }, maxPrice: 0.08, currency: undefined,
    caFile: undefined, tokenUrl: undefined, notify: undefined, timeoutMs: 10_000,
  });
});

test('Left out, resource_name, poll_s, simple_levels and the timeout take their defaults; programs means all', () => {
  const s = toOpenAdrSettings(openAdrSchema.parse(base), 'x');
  assert.is(s.resourceName, 'miners');
  assert.is(s.pollS, 30);
  assert.equal(s.simpleLevels, { 1: 0.5, 2: 0.25, 3: 0 });
  assert.is(s.programs, undefined);
  assert.is(s.maxPrice, undefined);
});

test('A VTN url must be https://, plain http only to a loopback address, and carry no credentials', () => {
  assert.match(problems({ ...base, vtn_url: 'http://vtn.example/openadr3' })[0], /vtn_url: must be https/);
  assert.equal(problems({ ...base, vtn_url: 'http://127.0.0.1:8080/openadr3/3.1.0' }), []);
  assert.match(problems({ ...base, vtn_url: 'https://ven:pw@vtn.example/' })[0], /must not carry credentials/);
  assert.match(problems({ ...base, vtn_url: 'ftp://vtn.example/' })[0], /expected https/);
  assert.match(problems({ ...base, vtn_url: 'vtn.example' })[0], /expected the VTN API base/);
});

test('The client secret is given once, with its client id, or neither for a VTN that asks none', () => {
  assert.match(problems({ ...base, client_secret: 'inline-secret' }).join(), /client_secret: give client_secret or client_secret_file, not both/);
  const { client_secret_file: _f, ...noSecret } = base;
  assert.match(problems(noSecret).join(), /client_secret: required with client_id/);
  const { client_id: _i, ...noId } = base;
  assert.match(problems(noId).join(), /client_id: required with a client secret/);
  const { client_id: _a, client_secret_file: _b, ...open } = base;
  assert.equal(problems(open), []);
  assert.match(problems({ ...noSecret, client_secret: 'two\nlines' }).join(), /one line/);
});

test('SIMPLE levels are 0 to 3 with shares between 0 and 1', () => {
  assert.match(problems({ ...base, simple_levels: { 4: 0.5 } }).join(), /SIMPLE levels are 0, 1, 2 and 3/);
  assert.match(problems({ ...base, simple_levels: { 1: 1.5 } }).join(), /simple_levels\.1/);
  assert.equal(problems({ ...base, simple_levels: { 0: 1, 3: 0 } }), []);
});

test('poll_s, programs, currency and notify are checked', () => {
  assert.match(problems({ ...base, poll_s: 0 }).join(), /poll_s/);
  assert.match(problems({ ...base, poll_s: 2.5 }).join(), /poll_s/);
  assert.match(problems({ ...base, programs: [] }).join(), /programs: list at least one program/);
  assert.match(problems({ ...base, currency: 'USD' }).join(), /currency: only means something with max_price/);
  assert.match(problems({ ...base, max_price: 0.1, currency: 'dollars' }).join(), /ISO 4217/);
  assert.equal(problems({ ...base, notify: { listen: '0.0.0.0:8471', url: 'https://ven.example:8443' } }), []);
  assert.match(problems({ ...base, notify: { listen: 'anywhere' } }).join(), /HOST:PORT/);
  assert.match(problems({ ...base, notify: { listen: '0.0.0.0:8471' } }).join(), /notify\.url: required when notify\.listen is a wildcard/);
  assert.equal(problems({ ...base, notify: { listen: '127.0.0.1:8471' } }), [], 'a VTN on this board calls the listener itself');
  assert.match(problems({ ...base, notify: { listen: '0.0.0.0:8471', url: 'http://ven.example' } }).join(), /notify\.url: must be https/);
  assert.match(problems({ ...base, surprise: 1 }).join(), /surprise|Unrecognized/);
});

test.run();
