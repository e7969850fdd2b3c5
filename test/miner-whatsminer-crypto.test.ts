import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ErrorCode, isHashflexError } from '../agent/errors';
import { aesEcbDecrypt, aesEcbEncrypt, v2AesKey, v2Credentials, v2EncryptRequest, v2Key, v2Sign, v3Token } from '../drivers/miner/whatsminer/crypto';
import { apiForFirmware, identify, normaliseModel } from '../drivers/miner/whatsminer/identify';
import { md5Crypt, md5CryptHash } from '../drivers/miner/whatsminer/md5crypt';
import { encodeV3Frame, V3FrameDecoder } from '../drivers/miner/whatsminer/v3-frame';
import { needs } from './harness/peers';

/**
 * The Whatsminer key derivations against an independent tool. The golden values below were
 * computed with OpenSSL 3.0 (`openssl passwd -1 -salt S P`, `openssl enc -aes-256-ecb -K HEX
 * -nosalt -nopad`, `openssl dgst -sha256 -binary | base64`); the "live" tests compare with the
 * openssl on this machine for random inputs too.
 */
const openssl = (args: string[], input?: Buffer) => {
  const r = spawnSync('openssl', args, { input });
  assert.is(r.status, 0, r.stderr?.toString());
  return r.stdout;
};

test('md5-crypt ($1$) matches openssl passwd -1 for short, empty, long and non-ASCII passwords', () => {
  // openssl passwd -1 -salt SALT PASSWORD
  const golden: [string, string, string][] = [
    ['admin', 'BQ5hoXV9', '$1$BQ5hoXV9$RxmaDUO33TS7O26yeMHZ81'],
    ['password', 'abc', '$1$abc$BXBqpb9BZcZhXLgbee.0s/'],
    ['', '12345678', '$1$12345678$xek.CpjQUVgdf/P2N9KQf/'],
    ['a much longer password that spans more than sixteen bytes', 'a.b/C9z', '$1$a.b/C9z$f3VScvUK6WgJ24BTTI2Nb0'],
    ['ünïcødé', 'saltsalt', '$1$saltsalt$2.Fb20GzrsOprnAmgMMMz.'],
  ];
  for (const [pw, salt, want] of golden) assert.is(md5Crypt(pw, salt), want, `${pw} / ${salt}`);
  assert.is(md5Crypt('admin', '$1$BQ5hoXV9$'), golden[0][2], 'a salt given in $1$salt$ form');
  assert.is(md5Crypt('admin', 'BQ5hoXV9toolong'), golden[0][2], 'salts are cut at 8 characters');
  assert.is(md5CryptHash('admin', 'BQ5hoXV9'), 'RxmaDUO33TS7O26yeMHZ81');
});

needs('openssl')('md5-crypt matches the machine\'s openssl for random passwords and salts (live)', () => {
  const itoa = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
  for (let i = 0; i < 12; i++) {
    const salt = Array.from(randomBytes(1 + (i % 8)), (b) => itoa[b & 63]).join('');
    const pw = randomBytes(i * 3).toString('base64').slice(0, i * 3);
    assert.is(md5Crypt(pw, salt), openssl(['passwd', '-1', '-salt', salt, pw]).toString().trim(), `${JSON.stringify(pw)} / ${salt}`);
  }
});

test('API v2: key, sign and AES key from a get_token reply, as the API v2 document derives them', () => {
  const t = { salt: 'BQ5hoXV9', time: '1700000000', newsalt: 'Yh7z2Kd1' };
  const key = v2Key('admin', t.salt);
  assert.is(key, 'RxmaDUO33TS7O26yeMHZ81', 'key = hash part of openssl passwd -1 -salt $salt admin');
  // openssl passwd -1 -salt Yh7z2Kd1 "RxmaDUO33TS7O26yeMHZ811700000000"
  assert.is(v2Sign(key, t.time, t.newsalt), 'agBld1z9zfy8jkWBLbcpy0');
  // printf RxmaDUO33TS7O26yeMHZ81 | openssl dgst -sha256
  assert.is(v2AesKey(key).toString('hex'), '199e0a202039bb7b558db7a54697dca29cb278055b7e659a127fb844d5a2fbf6');
  const c = v2Credentials('admin', t);
  assert.is(c.sign, 'agBld1z9zfy8jkWBLbcpy0');
  assert.is(c.aesKey.length, 32);
});

test('AES-256-ECB with NUL padding matches openssl enc -aes-256-ecb -nopad, and decrypts back', () => {
  const key = Buffer.from('199e0a202039bb7b558db7a54697dca29cb278055b7e659a127fb844d5a2fbf6', 'hex');
  const plain = '{"cmd": "power_off", "respbefore": "true", "token": "agBld1z9zfy8jkWBLbcpy0"}';
  // the 77 bytes NUL-padded to 80, through openssl enc -aes-256-ecb -K <key> -nosalt -nopad | base64
  const golden = 'YJracrWpLn2XvqWuNiNqyg70K64pfivIJhwE32DXNCeyv4iYIDyJ6mJuwbGpytIyJ/x+fg7t5NhtY7QEtm2SD4RqzGTxmlYJGIxtb6Jwxts=';
  assert.is(aesEcbEncrypt(key, plain), golden);
  assert.is(aesEcbDecrypt(key, golden), plain);
  assert.is(aesEcbEncrypt(key, 'x'.repeat(32)).length, 44, 'an exact multiple of 16 gets no padding block');
  const req = JSON.parse(v2EncryptRequest({ sign: 'agBld1z9zfy8jkWBLbcpy0', aesKey: key }, { cmd: 'power_off', respbefore: 'true' }));
  assert.is(req.enc, 1);
  assert.equal(JSON.parse(aesEcbDecrypt(key, req.data)), { cmd: 'power_off', respbefore: 'true', token: 'agBld1z9zfy8jkWBLbcpy0' });
  try {
    aesEcbDecrypt(key, Buffer.alloc(20).toString('base64'));
    assert.unreachable('20 bytes are not whole blocks');
  } catch (e) {
    assert.ok(isHashflexError(e, ErrorCode.FrameInvalid));
  }
});

needs('openssl')('AES-256-ECB matches the machine\'s openssl for random keys and texts (live)', () => {
  for (let i = 0; i < 6; i++) {
    const key = randomBytes(32);
    const text = randomBytes(5 + i * 9).toString('hex');
    const padded = Buffer.alloc(Math.ceil(text.length / 16) * 16);
    Buffer.from(text).copy(padded);
    const theirs = openssl(['enc', '-aes-256-ecb', '-K', key.toString('hex'), '-nosalt', '-nopad'], padded).toString('base64');
    assert.is(aesEcbEncrypt(key, text), theirs);
  }
});

test('API v3: the token is the first 8 characters of base64(SHA-256(cmd + password + salt + ts))', () => {
  // printf set.miner.servicesuperSALT1234x1700000000 | openssl dgst -sha256 -binary | base64 | cut -c1-8
  assert.is(v3Token('set.miner.service', 'super', 'SALT1234x', 1700000000), 'Glhe160J');
});

needs('openssl')('API v3: the token matches the machine\'s openssl (live)', () => {
  const live = openssl(['dgst', '-sha256', '-binary'], Buffer.from('set.miner.power_percentp4ssw0rdabcdEFGH1712345678')).toString('base64').slice(0, 8);
  assert.is(v3Token('set.miner.power_percent', 'p4ssw0rd', 'abcdEFGH', 1712345678), live);
});

test('API v3 frames: 4-byte little-endian length then JSON, reassembled from any split, impossible lengths refused', () => {
  const a = encodeV3Frame('{"cmd":"get.device.info"}');
  assert.equal([...a.subarray(0, 4)], [25, 0, 0, 0]);
  const both = Buffer.concat([a, encodeV3Frame('{"x":1}')]);
  const d = new V3FrameDecoder();
  const got: string[] = [];
  for (const byte of both) for (const f of d.push(Buffer.from([byte]))) got.push(f.toString());
  assert.equal(got, ['{"cmd":"get.device.info"}', '{"x":1}']);
  assert.equal(new V3FrameDecoder().push(both).map(String), got, 'two frames in one chunk');
  for (const bad of [Buffer.from([0, 0, 0, 0]), Buffer.from([0xff, 0xff, 0xff, 0x7f])]) {
    try {
      new V3FrameDecoder().push(bad);
      assert.unreachable();
    } catch (e) {
      assert.ok(isHashflexError(e, ErrorCode.FrameInvalid));
    }
  }
});

test('identify: a Whatsminer by btminer / bitmicro in version or devdetails, its model normalised as pyasic does; others are not', () => {
  const devdetails = { STATUS: [{ STATUS: 'S', Code: 69, Msg: 'Device Details', Description: 'btminer' }], DEVDETAILS: [{ DEVDETAILS: 0, Name: 'SM', ID: 0, Driver: 'bitmicro', Model: 'M30S++_VH41' }] };
  const version = { STATUS: [{ STATUS: 'S', Description: 'btminer' }], VERSION: [{ 'Firmware Version': "'20230314.15.Rel'", Type: 'M30S++' }] };
  assert.equal(identify({ version, devdetails }), { make: 'MicroBT', model: 'M30S++VH40', firmware: '20230314.15.Rel', driver: 'whatsminer' });
  assert.equal(identify({ devdetails })?.model, 'M30S++VH40');
  assert.equal(identify({ version })?.firmware, '20230314.15.Rel');
  assert.is(identify({ version: { STATUS: [{ STATUS: 'S', Description: 'cgminer 4.9.2' }], VERSION: [{ Type: 'Antminer S19' }] } }), undefined, 'a stock Antminer');
  assert.is(identify({ version: { STATUS: [{ STATUS: 'S', Description: 'BOSminer+ btminer-compat' }] } }), undefined, 'Braiins OS names win');
  const web = { status: 307, headers: { Location: 'https://10.0.1.5/cgi-bin/luci' }, body: '' };
  assert.is(identify({ web })?.driver, 'whatsminer');
  assert.is(identify({ web: { ...web, headers: { location: 'https://10.0.1.5/' } } }), undefined, 'any https redirect is not enough');
  assert.is(identify({ web: { status: 401, headers: { 'www-authenticate': 'Digest realm="antMiner Configuration"' }, body: '' } }), undefined);
  assert.is(normaliseModel('M60S_VK30'), 'M60SVK30');
});

test('The API follows the firmware date: after 2024-11 is v3, before and unparseable is v2 (pyasic BTMiner)', () => {
  assert.is(apiForFirmware('20230314.15.Rel'), 'v2');
  assert.is(apiForFirmware('20241100.01'), 'v2');
  assert.is(apiForFirmware('20241105.22.1'), 'v3');
  assert.is(apiForFirmware("'20250214.16.1'"), 'v3');
  assert.is(apiForFirmware('v2.0.5'), 'v2');
  assert.is(apiForFirmware(undefined), 'v2');
});

test.run();
