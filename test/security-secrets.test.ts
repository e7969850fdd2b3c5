import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, loadConfig, validateConfig } from '../agent/config';
import { ErrorCode, isHashflexError } from '../agent/errors';
import { createLocalServer } from '../agent/server/local';
import { readToken } from '../agent/uplink';
import { Uplink } from '../agent/uplink/client';
import { VirtualClock } from '../agent/clock';
import { hashflex, tmpdir } from './harness/cli';

/**
 * One rule for every secret the config holds (README "Secrets"; agent/security.ts): a file's
 * first line, trailing whitespace trimmed, at least 8 characters, inline or in a file alike,
 * refused at its key by `config check` (exit 2) and at start. The first case is the empty-token
 * defect: the installer's empty token file passed, and the local server then took a cookie
 * keyed with the empty string, which anyone can compute.
 */
const t = suite('secrets');
let dir = '';
t.before(() => { dir = tmpdir('hashflex-secrets-'); });
t.after(() => fs.rmSync(dir, { recursive: true, force: true }));

const base = {
  agent: { id: 'board-17' },
  meter: { tcp: '127.0.0.1:1502' },
  boards: [{ id: 'hb0', serial: { path: '/dev/null' } }],
};
const secretFile = (name: string, text: string) => {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text, { mode: 0o600 });
  return f;
};
function problems(doc: unknown): string[] {
  try {
    validateConfig(doc, path.join(dir, 'agent.yaml'));
  } catch (e) {
    assert.instance(e, ConfigError);
    return (e as ConfigError).problems;
  }
  assert.unreachable('config was accepted');
  return [];
}
const isConfigInvalid = (key: string) => (e: unknown) => isHashflexError(e, ErrorCode.ConfigInvalid) && e.message.startsWith(key);
/** the dashboard cookie for the empty key: what anyone could send if an empty token were taken */
const emptyKeyCookie = crypto.createHmac('sha256', '').update('hashflex dashboard cookie v1').digest('base64url');

t('An empty local.token_file is refused at its key, and no local server opens with an empty token', async () => {
  const file = secretFile('local.token', '\n'); // provisioning wrote nothing, or only a newline
  assert.equal(problems({ ...base, local: { listen: '0.0.0.0:8089', token_file: file } }),
    [`local.token_file: ${file} is empty: write the token on its first line`]);
  await createLocalServer({ listen: '127.0.0.1:0', token: '', status: () => ({}), metrics: () => '', telemetry: new EventEmitter() })
    .then(() => assert.unreachable('an empty token was taken'), (e) => assert.ok(isConfigInvalid('local.token')(e), String(e)));

  // with a real token the empty-key cookie is just a wrong cookie
  fs.writeFileSync(file, 'local-secret-5b8e02d4\n');
  const c = validateConfig({ ...base, local: { listen: '0.0.0.0:8089', token_file: file } }, path.join(dir, 'agent.yaml'));
  const srv = await createLocalServer({ listen: '127.0.0.1:0', token: c.local!.token, status: () => ({ secret: 'site status' }), metrics: () => '', telemetry: new EventEmitter() });
  try {
    const forged = await fetch(`http://127.0.0.1:${srv.port}/status`, { headers: { cookie: `hashflex_session=${emptyKeyCookie}` } });
    assert.is(forged.status, 401);
    const good = await fetch(`http://127.0.0.1:${srv.port}/status`, { headers: { authorization: 'Bearer local-secret-5b8e02d4' } });
    assert.is(good.status, 200);
  } finally {
    await srv.close();
  }
});

t('The installer\'s empty uplink.token makes config check and run exit 2 with a line telling the technician to write it', async () => {
  const token = secretFile('uplink.token', '');
  fs.chmodSync(token, 0o640); // as install.sh leaves it: root:hashflex 0640
  const file = path.join(dir, 'agent.yaml');
  fs.writeFileSync(file, JSON.stringify({ ...base, uplink: { url: 'ws://127.0.0.1:9/uplink', token_file: 'uplink.token' } }), { mode: 0o640 });
  const check = hashflex(['config', 'check', file]);
  assert.is(await check.exited, 2);
  assert.is(check.out(), 'uplink.token_file: uplink.token is empty: write the token on its first line\n');
  assert.is(check.err(), '', 'no mode warning for 0640');
  const run = hashflex(['run', '-c', file]);
  assert.is(await run.exited, 2);
  assert.is(run.err(), 'uplink.token_file: uplink.token is empty: write the token on its first line\n');

  fs.writeFileSync(token, 'site-token-123\n');
  const ok = hashflex(['config', 'check', file]);
  assert.is(await ok.exited, 0, ok.out());
  assert.is(ok.err(), '', 'root:hashflex 0640 is how the service reads its secrets: no warning');
});

t('A token file is read by its first line, with trailing whitespace and a CR trimmed', () => {
  const file = secretFile('crlf.token', 'site-token-123 \r\nsecond line is not the token\r\n');
  const c = validateConfig({ ...base, uplink: { url: 'ws://127.0.0.1:9/x', token_file: file } });
  assert.is(c.uplink!.token, 'site-token-123');
  assert.is(readToken({ token_file: file }, 'uplink'), 'site-token-123', 'the uplink reads it the same way');
  const blankFirst = secretFile('blank-first.token', '\nsite-token-123\n');
  assert.equal(problems({ ...base, uplink: { url: 'ws://127.0.0.1:9/x', token_file: blankFirst } }),
    [`uplink.token_file: the first line of ${blankFirst} is empty: the token must be on the first line`]);
});

t('Every secret source has the same minimum: 7 characters are refused inline and in a file, 8 are taken', () => {
  const short = secretFile('short.token', 'abcdefg\n');
  const eight = secretFile('eight.token', 'abcdefgh\n');
  const url = 'ws://127.0.0.1:9/x';
  const mqtt = { url: 'mqtt://127.0.0.1:1883', site: 'north' }; // the token is the broker password
  assert.equal(problems({ ...base, uplink: { url, token: 'abcdefg' } }), ['uplink.token: must be at least 8 characters']);
  assert.equal(problems({ ...base, uplink: { ...mqtt, token: 'abcdefg' } }), ['uplink.token: must be at least 8 characters']);
  assert.equal(problems({ ...base, local: { token: 'abcdefg' } }), ['local.token: must be at least 8 characters']);
  assert.equal(problems({ ...base, uplink: { url, token_file: short } }), [`uplink.token_file: the token in ${short} (its first line) must be at least 8 characters`]);
  assert.equal(problems({ ...base, local: { token_file: short } }), [`local.token_file: the token in ${short} (its first line) must be at least 8 characters`]);
  assert.throws(() => readToken({ token_file: short }, 'uplink'), isConfigInvalid('uplink.token_file'));
  assert.throws(() => readToken({ token: 'abcdefg' }, 'uplink'), isConfigInvalid('uplink.token'));
  for (const doc of [
    { ...base, uplink: { url, token: 'abcdefgh' }, local: { token_file: eight } },
    { ...base, uplink: { ...mqtt, token_file: eight }, local: { token: 'abcdefgh' } },
  ]) {
    const c = validateConfig(doc);
    assert.is(c.uplink!.token, 'abcdefgh');
    assert.is(c.local!.token, 'abcdefgh');
  }
});

t('Inline tokens follow the same line rule: trailing whitespace trimmed, a second line or only blanks refused', () => {
  assert.is(validateConfig({ ...base, local: { token: 'abcdefgh\n' } }).local!.token, 'abcdefgh', 'a YAML block scalar\'s newline');
  assert.equal(problems({ ...base, local: { token: 'abcdefgh\nijklmnop' } }), ['local.token: must be one line']);
  assert.equal(problems({ ...base, local: { token: '          ' } }), ['local.token: is empty']);
  assert.equal(problems({ ...base, local: { token: 'abcdefgh', token_file: 'x' } }), ['local.token: give token or token_file, not both']);
});

t('No problem line or error ever carries the secret it refuses', () => {
  const file = secretFile('leak.token', 'abc123\n');
  const lines = problems({ ...base, uplink: { url: 'ws://127.0.0.1:9/x', token_file: file }, local: { token: 'xyz789' } });
  assert.is(lines.length, 1, lines.join('\n')); // the inline one is a schema problem: files are read after
  assert.not.ok(lines.some((l) => l.includes('xyz789')));
  assert.throws(() => readToken({ token_file: file }, 'uplink'), (e: unknown) => !String((e as Error).message).includes('abc123'));
});

t('The uplink refuses an empty token rather than connect without credentials', () => {
  const journal = { on() {}, off() {} } as never;
  for (const url of ['ws://127.0.0.1:9/x', 'mqtt://127.0.0.1:1883']) {
    assert.throws(() => new Uplink({ url, token: '', mqtt: { site: 's' }, agentId: 'a', version: '0', bootId: 'b', journal }, new VirtualClock()), isConfigInvalid('uplink.token'), url);
  }
});

t.run();
