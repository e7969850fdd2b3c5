import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, validateConfig } from '../agent/config';
import { isMinerDriver } from '../drivers/miner';

const site = { agent: { id: 'north' }, meter: { tcp: '127.0.0.1:502' } };

function problems(doc: unknown): string[] {
  try {
    validateConfig(doc);
    return [];
  } catch (e) {
    return (e as ConfigError).problems;
  }
}

test('a site of network miners alone is a valid config, with the contract keys and their defaults', () => {
  const c = validateConfig({ ...site, miners: [
    { id: 's19-01', host: '10.0.1.21', driver: 'antminer', ports: { api: 4028 }, username: 'root', password: 'root', rated_kw: 3.25 },
    { id: 'm50-01', host: 'miner-7.lan' },
  ] });
  assert.is(c.boards.length, 0);
  assert.is(c.miners[0].password, 'root', 'a factory default password is short, and allowed');
  assert.is(c.miners[1].driver, 'auto');
  assert.is(c.miners[1].poll_ms, 5000);
  assert.equal(c.miners[1].ports, {});
});

test('neither boards nor miners, a duplicate id across both, an unknown port key and a driver no one makes are refused at their paths', () => {
  assert.equal(problems({ ...site }), ['boards: at least one board or miner']);
  const p = problems({
    ...site,
    boards: [{ id: 'x1', serial: { tcp: '127.0.0.1:1' } }],
    miners: [{ id: 'x1', host: '10.0.0.2' }, { id: 'l1', host: '10.0.0.3' }, { id: 'p1', host: '10.0.0.4', ports: { ssh: 22 } }],
  });
  assert.ok(p.some((l) => /^miners\[0\]\.id: duplicate id "x1"/.test(l)), p.join('\n'));
  const q = problems({ ...site, miners: [{ id: 'b1', host: '10.0.0.3', driver: 'bitaxe' }] });
  assert.ok(q.some((l) => /^miners\[0\]\.driver: expected one of .*"luxos", "braiins", "vnish", "auto", got "bitaxe"/.test(l)), q.join('\n'));
  // every family DESIGN §7 names has its driver in this build
  for (const d of ['antminer', 'whatsminer', 'avalon', 'luxos', 'braiins', 'vnish']) assert.ok(isMinerDriver(d), d);
  assert.ok(p.some((l) => /^miners\[2\]\.ports/.test(l)), p.join('\n'));
});

test('a miner password follows the secret line rule: an empty file is refused, its first line is read', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hf-miners-'));
  const empty = path.join(dir, 'empty.secret');
  const two = path.join(dir, 'two.secret');
  fs.writeFileSync(empty, '');
  fs.writeFileSync(two, 'admin\r\nsecond line\n');
  const src = path.join(dir, 'agent.yaml');
  assert.equal(problems({ ...site, miners: [{ id: 'a', host: '10.0.0.2', password_file: empty }] }).map((l) => l.split(':')[0]), ['miners[0].password_file']);
  const c = validateConfig({ ...site, miners: [{ id: 'a', host: '10.0.0.2', password_file: 'two.secret' }] }, src);
  assert.is(c.miners[0].password, 'admin');
  assert.ok(problems({ ...site, miners: [{ id: 'a', host: '10.0.0.2', password: 'x', password_file: two }] })[0].includes('not both'));
  fs.rmSync(dir, { recursive: true });
});

test.run();
