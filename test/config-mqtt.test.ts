import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import YAML from 'yaml';
import { ConfigError, configWarnings, loadConfig, validateConfig } from '../agent/config';
import { mqttOptions } from '../agent/uplink';
import { hashflex, tmpdir } from './harness/cli';

/**
 * The uplink section for MQTT (README, "Uplink over MQTT"): a site switches from WebSocket to
 * MQTT by config alone, and a wrong MQTT section is refused at the key that is wrong.
 */

const base = {
  agent: { id: 'board-17' },
  meter: { model: 'sdm630', tcp: '127.0.0.1:1502', unit: 1 },
  boards: [{ id: 'hb0', serial: { path: '/dev/ttyUSB0' } }],
};
const withUplink = (uplink: Record<string, unknown>) => ({ ...base, uplink });

function problems(doc: unknown): string[] {
  try {
    validateConfig(doc);
  } catch (e) {
    assert.instance(e, ConfigError);
    return (e as ConfigError).problems;
  }
  assert.unreachable('config was accepted');
  return [];
}
const at = (p: string[], key: string) => p.filter((l) => l.startsWith(`${key}: `));

test('Every uplink scheme is accepted; MQTT ones with a site, and the defaults are the documented ones', () => {
  for (const url of ['ws://127.0.0.1:8080/uplink', 'wss://ctl.example/uplink']) {
    assert.is(validateConfig(withUplink({ url })).uplink!.url, url);
  }
  for (const url of ['mqtt://127.0.0.1:1883', 'mqtts://broker.example:8883', 'mqtt+ws://broker.example:8080/mqtt', 'mqtt+wss://broker.example/mqtt']) {
    const u = validateConfig(withUplink({ url, site: 'north-field' })).uplink!;
    assert.is(u.url, url);
    assert.is(u.topic_prefix, 'hashflex');
  }
  const u = validateConfig(withUplink({
    url: 'mqtt://127.0.0.1:1883', site: 'north', token: 'broker-pw-123', username: 'agent-user', client_id: 'hf-north-17', topic_prefix: 'acme/mining.v1',
  })).uplink!;
  assert.equal(mqttOptions(u), { site: 'north', username: 'agent-user', password: undefined, clientId: 'hf-north-17', topicPrefix: 'acme/mining.v1' });
  // a WebSocket url gives no MQTT options, even with MQTT keys present
  assert.is(mqttOptions(validateConfig(withUplink({ url: 'ws://h:1/x' })).uplink!), undefined);
});

test('An MQTT url without uplink.site is refused with one clear line at uplink.site', () => {
  for (const url of ['mqtt://127.0.0.1:1883', 'mqtts://h:8883', 'mqtt+ws://h/mqtt', 'mqtt+wss://h/mqtt']) {
    const p = problems(withUplink({ url, token: 'broker-pw-123' }));
    assert.equal(p, ['uplink.site: is required when uplink.url is an MQTT url (the site id, second topic level)'], url);
  }
  // the site is one topic level: no wildcards, separators or spaces
  for (const site of ['a/b', 'si+te', '#', 'has space', '', 'x'.repeat(65)]) {
    assert.is(at(problems(withUplink({ url: 'mqtt://h:1883', site })), 'uplink.site').length, 1, JSON.stringify(site));
  }
});

test('Bad topic prefixes are refused at uplink.topic_prefix', () => {
  for (const topic_prefix of ['', '/hashflex', 'hashflex/', 'a//b', 'a/+/b', 'a/#', 'has space', 'ünï', 'x'.repeat(129)]) {
    const p = problems(withUplink({ url: 'mqtt://h:1883', site: 's1', topic_prefix }));
    assert.is(at(p, 'uplink.topic_prefix').length, 1, `${JSON.stringify(topic_prefix)}: ${p.join('; ')}`);
    assert.is(p.length, 1, p.join('\n'));
  }
  for (const topic_prefix of ['h', 'acme/hashflex', 'a.b/c_d/e-f', `${'x'.repeat(64)}/${'y'.repeat(63)}`]) {
    assert.is(validateConfig(withUplink({ url: 'mqtt://h:1883', site: 's1', topic_prefix })).uplink!.topic_prefix, topic_prefix);
  }
});

test('Bad schemes, urls without a host and urls carrying credentials are refused at uplink.url', () => {
  for (const url of ['http://h:80/x', 'tcp://h:1883', 'mqtt:/h', 'ssl://h:8883', 'MQTT://h:1883', 'mqtt+tcp://h', 'mqtt://', 'mqtt:// h', 'h:1883']) {
    const p = problems(withUplink({ url, site: 's1' }));
    assert.is(at(p, 'uplink.url').length, 1, `${url}: ${p.join('; ')}`);
    assert.match(at(p, 'uplink.url')[0], /expected ws:\/\/, wss:\/\/, mqtt:\/\/, mqtts:\/\/, mqtt\+ws:\/\/ or mqtt\+wss:\/\//);
  }
  for (const url of ['mqtt://agent:secret-pw@h:1883', 'wss://user@h/uplink']) {
    const p = problems(withUplink({ url, site: 's1' }));
    assert.equal(p, ['uplink.url: must not carry credentials: use uplink.username and uplink.token or token_file'], url);
    assert.not.ok(p.join('').includes('secret-pw'));
  }
});

test('username and client_id lengths, and unknown uplink keys, are refused at their keys', () => {
  const p = problems(withUplink({ url: 'mqtt://h:1883', site: 's1', username: '', client_id: 'c'.repeat(129), password: 'nope-nope' }));
  assert.is(at(p, 'uplink.username').length, 1, p.join('\n'));
  assert.is(at(p, 'uplink.client_id').length, 1, p.join('\n'));
  assert.ok(p.some((l) => l.startsWith('uplink.password: unknown key (allowed here: url, token, token_file,')), p.join('\n'));
  assert.is(at(problems(withUplink({ url: 'mqtt://h:1883', site: 's1', username: 'u'.repeat(257) })), 'uplink.username').length, 1);
  assert.ok(validateConfig(withUplink({ url: 'mqtt://h:1883', site: 's1', username: 'u'.repeat(256), client_id: 'c'.repeat(128) })));
});

test('ca_file is resolved beside the config and must exist; it reaches the uplink options', () => {
  const dir = tmpdir();
  try {
    fs.writeFileSync(path.join(dir, 'ca.pem'), fs.readFileSync(path.join(__dirname, 'fixtures/uplink/tls/ca.pem')));
    const file = path.join(dir, 'agent.yaml');
    fs.writeFileSync(file, YAML.stringify(withUplink({ url: 'mqtts://127.0.0.1:8883', site: 's1', ca_file: 'ca.pem' })));
    assert.is(loadConfig(file).uplink!.ca_file, path.join(dir, 'ca.pem'));
    fs.writeFileSync(file, YAML.stringify(withUplink({ url: 'mqtts://127.0.0.1:8883', site: 's1', ca_file: 'missing.pem' })));
    try {
      loadConfig(file);
      assert.unreachable();
    } catch (e) {
      assert.equal((e as ConfigError).problems, [`uplink.ca_file: ${path.join(dir, 'missing.pem')} does not exist`]);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('Warnings: MQTT-only keys beside a WebSocket url, a CA file on a plain url, a token file others can read', () => {
  const ws = validateConfig(withUplink({ url: 'ws://h:1/x', site: 's1', client_id: 'c', topic_prefix: 'x' }));
  assert.equal(configWarnings(ws).map((w) => w.split(':')[0]), ['uplink.site', 'uplink.client_id', 'uplink.topic_prefix']);
  const dir = tmpdir();
  try {
    const ca = path.join(dir, 'ca.pem');
    fs.writeFileSync(ca, 'x');
    assert.equal(configWarnings(validateConfig(withUplink({ url: 'mqtt://h:1883', site: 's1', ca_file: ca }))),
      ['uplink.ca_file: ignored: mqtt:// is not TLS (use mqtts://)']);
    assert.equal(configWarnings(validateConfig(withUplink({ url: 'mqtts://h:8883', site: 's1', ca_file: ca }))), []);
    // a config from a file: its token file's mode is checked, relative to the config
    const tok = path.join(dir, 'broker.token');
    fs.writeFileSync(tok, 'broker-secret-99\n', { mode: 0o644 });
    fs.chmodSync(tok, 0o644);
    const file = path.join(dir, 'agent.yaml');
    fs.writeFileSync(file, YAML.stringify(withUplink({ url: 'mqtt://h:1883', site: 's1', token_file: 'broker.token' })), { mode: 0o600 });
    const c = loadConfig(file);
    assert.is(c.uplink!.token, 'broker-secret-99');
    const w = configWarnings(c);
    assert.is(w.length, 1, w.join('\n'));
    assert.match(w[0], `${tok}: is uplink.token_file but its mode is 0644`);
    assert.not.ok(w[0].includes('broker-secret-99'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('hashflex config check: an MQTT config without a site exits 2 at uplink.site; a valid one with a readable token exits 0 with a warning', async () => {
  const dir = tmpdir();
  try {
    const bad = path.join(dir, 'bad.yaml');
    fs.writeFileSync(bad, YAML.stringify(withUplink({ url: 'mqtt://127.0.0.1:1883', token: 'broker-secret-42' })));
    const p = hashflex(['config', 'check', bad]);
    assert.is(await p.exited, 2);
    assert.is(p.out().trim(), 'uplink.site: is required when uplink.url is an MQTT url (the site id, second topic level)');

    const good = path.join(dir, 'good.yaml');
    fs.writeFileSync(good, YAML.stringify(withUplink({ url: 'mqtt://127.0.0.1:1883', site: 'north', token: 'broker-secret-42' })));
    fs.chmodSync(good, 0o644);
    const q = hashflex(['config', 'check', good]);
    assert.is(await q.exited, 0, q.err());
    assert.match(q.out(), `${good}: ok`);
    assert.is(q.err(), `warning: ${good}: holds uplink.token but its mode is 0644 (readable by others); chmod 640 it\n`);
    assert.not.ok(q.out().includes('broker-secret-42') || q.err().includes('broker-secret-42'));

    fs.chmodSync(good, 0o600);
    const r = hashflex(['config', 'check', good]);
    assert.is(await r.exited, 0);
    assert.is(r.err(), '');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
