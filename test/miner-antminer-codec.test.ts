import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseRpcReply } from '../drivers/miner/rpc';
import { parseStats, parseSummary, parseVersion, statusError } from '../drivers/miner/antminer/api';
import { confBody, modeOf, parseConf, setAccepted, withMode, WorkMode } from '../drivers/miner/antminer/conf';
import { authorization, digestHa1, digestResponse, parseAuthorization, parseChallenge } from '../drivers/miner/antminer/digest';
import { identify } from '../drivers/miner/antminer/identify';
import { estimateKw, LOW_POWER_SHARE, ratedKwOf, STANDBY_KW } from '../drivers/miner/antminer/power';

/**
 * The stock Antminer driver's pure parts: HTTP Digest against the RFCs' own worked examples,
 * the config read-modify-write, the 4028 replies (with the firmware's `}{` quirk), identify()
 * as pyasic's factory tells families apart, and the power estimate.
 */
const digest = suite('antminer digest');

digest('The RFC 2617 §3.5 example gives its published response (MD5, qop=auth)', () => {
  const c = parseChallenge('Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"')!;
  assert.is(c.realm, 'testrealm@host.com');
  assert.equal(c.qop, ['auth', 'auth-int']);
  assert.is(c.algorithm, 'MD5');
  const ha1 = digestHa1(c.algorithm, 'Mufasa', c.realm, 'Circle Of Life');
  const r = { method: 'GET', uri: '/dir/index.html', username: 'Mufasa', ha1, nc: 1, cnonce: '0a4f113b' };
  assert.is(digestResponse(c, r), '6629fae49393a05397450978507c4ef1');
  const header = authorization(c, r);
  const back = parseAuthorization(header)!;
  assert.is(back.get('response'), '6629fae49393a05397450978507c4ef1');
  assert.is(back.get('nc'), '00000001');
  assert.is(back.get('qop'), 'auth');
  assert.is(back.get('opaque'), '5ccc069c403ebaf9f0171e9517f40e41');
  assert.is(back.get('uri'), '/dir/index.html');
});

digest('The RFC 7616 §3.9.1 example gives its published MD5 and SHA-256 responses', () => {
  const base = 'realm="http-auth@example.org", qop="auth, auth-int", nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"';
  const cnonce = 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ';
  for (const [alg, want] of [
    ['MD5', '8ca523f5e9506fed4657c9700eebdbec'],
    ['SHA-256', '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1'],
  ]) {
    const c = parseChallenge(`Digest ${base}, algorithm=${alg}`)!;
    const ha1 = digestHa1(alg, 'Mufasa', c.realm, 'Circle of Life');
    assert.is(digestResponse(c, { method: 'GET', uri: '/dir/index.html', username: 'Mufasa', ha1, nc: 1, cnonce }), want, alg);
  }
});

digest('A challenge without qop is answered the RFC 2069 way; stale=true is seen; non-Digest is not a challenge', () => {
  const c = parseChallenge('Digest realm="antMiner Configuration", nonce="abc", stale=TRUE')!;
  assert.equal(c.qop, []);
  assert.ok(c.stale);
  const ha1 = digestHa1('MD5', 'root', c.realm, 'root');
  const r = { method: 'GET', uri: '/', username: 'root', ha1, nc: 1, cnonce: 'x' };
  assert.not.match(authorization(c, r), /nc=/);
  assert.is(parseChallenge('Basic realm="x"'), undefined);
  assert.is(parseChallenge('Digest nonce="only"'), undefined);
  assert.is(parseChallenge(undefined), undefined);
});

digest('Quoted values with commas and escaped quotes survive parsing', () => {
  const c = parseChallenge('Digest realm="a, \\"b\\"", nonce="n1",qop=auth')!;
  assert.is(c.realm, 'a, "b"');
  assert.is(c.nonce, 'n1');
  assert.equal(c.qop, ['auth']);
});

const conf = suite('antminer conf');
const REAL = {
  pools: [
    { url: 'stratum+tcp://stratum.antpool.com:3333', user: 'antminer_1', pass: '123' },
    { url: 'stratum+tcp://stratum.antpool.com:443', user: 'antminer_1', pass: '123' },
    { url: 'stratum+tcp://stratum.antpool.com:25', user: 'antminer_1', pass: '123' },
  ],
  'api-listen': true,
  'api-network': true,
  'api-groups': 'A:stats:pools:devs:summary:version',
  'api-allow': 'A:0/0,W:*',
  'bitmain-fan-ctrl': false,
  'bitmain-fan-pwm': '100',
  'bitmain-use-vil': true,
  'bitmain-freq': '675',
  'bitmain-voltage': '1400',
  'bitmain-ccdelay': '0',
  'bitmain-pwth': '0',
  'bitmain-work-mode': '0',
  'bitmain-freq-level': '100',
};

conf('The write body is the whole config read, pools exactly, with miner-mode a number (or a string where asked)', () => {
  const c = parseConf(JSON.stringify(REAL));
  const body = JSON.parse(confBody(c, WorkMode.Sleep));
  assert.equal(body.pools, REAL.pools);
  for (const [k, v] of Object.entries(REAL)) if (k !== 'bitmain-work-mode') assert.equal(body[k], v, k);
  assert.is(body['miner-mode'], 1);
  assert.is(body['bitmain-work-mode'], '1');
  assert.is(JSON.parse(confBody(c, WorkMode.LowPower, true))['miner-mode'], '3');
  const held = withMode(c, WorkMode.LowPower);
  assert.is(held['bitmain-work-mode'], '3');
  assert.is(held['miner-mode'], undefined);
  assert.equal(held.pools, REAL.pools);
});

conf('Work modes read as pyasic reads them: "0" normal, "1" sleep, "3" low power, "" normal, others unknown', () => {
  assert.is(modeOf({ 'bitmain-work-mode': '0' }), WorkMode.Normal);
  assert.is(modeOf({ 'bitmain-work-mode': '1' }), WorkMode.Sleep);
  assert.is(modeOf({ 'bitmain-work-mode': '3' }), WorkMode.LowPower);
  assert.is(modeOf({ 'bitmain-work-mode': '' }), WorkMode.Normal);
  assert.is(modeOf({ 'miner-mode': 1 }), WorkMode.Sleep);
  assert.is(modeOf({ 'bitmain-work-mode': '2' }), undefined);
  assert.is(modeOf({ 'bitmain-work-mode': 'x' }), undefined);
});

conf('A config without pools, or not JSON, is refused; set replies are read by stats and code', () => {
  assert.throws(() => parseConf('<html>'), /not JSON/);
  assert.throws(() => parseConf('{"stats":"success"}'), /no pools/);
  assert.throws(() => parseConf('[1]'), /not a JSON object/);
  assert.ok(setAccepted('{"stats":"success","code":"M000","msg":"OK!"}').ok);
  assert.ok(setAccepted('{"code":"M000"}').ok);
  assert.not.ok(setAccepted('{"stats":"error","code":"M001"}').ok);
  assert.not.ok(setAccepted('garbage').ok);
});

const api = suite('antminer api');
// an S19j Pro's stats as the firmware sends it: the two STATS objects run together
const STATS = '{"STATUS":[{"STATUS":"S","When":1700000000,"Code":70,"Msg":"BMMiner stats","Description":"bmminer 1.0.0"}],'
  + '"STATS":[{"BMMiner":"1.0.0","Miner":"uart_trans.1.3","CompileTime":"Mon Oct 11 17:27:41 CST 2021","Type":"Antminer S19j Pro"}'
  + '{"STATS":0,"ID":"BTM_SOC0","Elapsed":4143,"GHS 5s":90000,"GHS av":89000,"fan_num":4,"fan1":5786,"fan2":5732,"fan3":5872,"fan4":5609,'
  + '"temp_num":3,"temp1":66,"temp2_1":58,"temp2":65,"temp2_2":58,"temp3":66,"temp2_3":58,"temp_pcb1":"53-53-61-61","temp_chip1":"58-58-66-66",'
  + '"temp_pic1":"43-43-51-151","temp_chip2":"58-58-71-65","temp_chip4":"0-0-0-0","total_rateideal":90000,"rate_unit":"GH","temp_max":66}],"id":1}\u0000';

api('stats with the firmware\'s }{ quirk parses: hottest sensor, fans, ideal hashrate', () => {
  const reply = parseRpcReply(STATS.replace(/\0$/, ''));
  assert.is(statusError(reply), undefined);
  const s = parseStats(reply);
  assert.is(s.tempC, 71);
  assert.equal(s.fans, [5786, 5732, 5872, 5609]);
  assert.is(s.idealThs, 90);
});

api('summary\'s "GHS 5s" may be a string; version gives model and firmware build', () => {
  const sum = parseSummary(parseRpcReply('{"STATUS":[{"STATUS":"S","Code":11,"Msg":"Summary"}],"SUMMARY":[{"Elapsed":10,"GHS 5s":"104123.45","GHS av":104000.1}],"id":1}'));
  assert.ok(Math.abs(sum.ths - 104.12345) < 1e-9);
  const v = parseVersion(parseRpcReply('{"STATUS":[{"STATUS":"S","Code":22,"Msg":"BMMiner versions"}],"VERSION":[{"BMMiner":"1.0.0","API":"3.1","Miner":"uart_trans.1.3","CompileTime":"Thu Jul 27 14:29:16 CST 2023","Type":"Antminer S19j Pro (88)"}],"id":1}'));
  assert.is(v.model, 'S19j Pro');
  assert.is(v.firmware, 'Thu Jul 27 14:29:16 CST 2023');
  assert.is(statusError(parseRpcReply('{"STATUS":[{"STATUS":"E","Code":14,"Msg":"Invalid command"}],"id":1}')), 'API error 14: Invalid command');
  assert.throws(() => parseSummary({ STATUS: [{ STATUS: 'S' }] }), /no SUMMARY/);
});

const ident = suite('antminer identify');
const version = (extra: Record<string, unknown>) => ({ STATUS: [{ STATUS: 'S', Msg: 'BMMiner versions', Description: 'bmminer 1.0.0' }], VERSION: [{ BMMiner: '1.0.0', API: '3.1', CompileTime: 'Thu Jul 27 14:29:16 CST 2023', ...extra }], id: 1 });
const realm401 = { status: 401, headers: { 'www-authenticate': 'Digest realm="antMiner Configuration", nonce="x", qop="auth"' }, body: '' };

ident('A stock S21 is Bitmain, model S21, stock firmware, driver antminer', () => {
  assert.equal(identify({ version: version({ Type: 'Antminer S21' }), web: realm401 }), { make: 'Bitmain', model: 'S21', firmware: 'stock Thu Jul 27 14:29:16 CST 2023', driver: 'antminer' });
});

ident('The web realm alone says Antminer; aftermarket firmware and other makers are not claimed', () => {
  assert.equal(identify({ web: realm401 })?.driver, 'antminer');
  assert.is(identify({ version: version({ Type: 'Antminer S19 Hiveon' }), web: realm401 }), undefined);
  assert.is(identify({ version: { STATUS: [{ Description: 'BOSminer bosminer-plus-tuner 0.9' }], VERSION: [{ Type: 'Antminer S19' }] } }), undefined);
  assert.is(identify({ version: { VERSION: [{ LUXminer: '2024.1', Type: 'Antminer S19 XP' }] } }), undefined);
  assert.is(identify({ version: { Msg: { fw_ver: '20230911', miner_type: 'btminer' } } }), undefined);
  assert.is(identify({ web: { status: 200, headers: {}, body: '<title>AnthillOS</title>' } }), undefined);
  assert.is(identify({ devdetails: { DEVDETAILS: [{ Model: 'Antminer S19' }] } }), undefined);
  assert.is(identify({ web: { status: 401, headers: { 'WWW-Authenticate': 'Digest realm="blackMiner Configuration", nonce="x"' }, body: '' } }), undefined);
});

const power = suite('antminer power estimate');

power('rated kW comes from config first, then the model, else 3.25; longest model name wins', () => {
  assert.is(ratedKwOf('S19j Pro', 2.9), 2.9);
  assert.is(ratedKwOf('S19j Pro'), 3.068);
  assert.is(ratedKwOf('S19j Pro+'), 3.355);
  assert.is(ratedKwOf('S21 Hyd.'), 3.5);
  assert.is(ratedKwOf('S19 XP Hyd.'), 3.01);
  assert.is(ratedKwOf('L7'), 3.25);
  assert.is(ratedKwOf(undefined), 3.25);
});

power('The estimate follows the hashrate, never above the mode\'s figure; asleep it is standby', () => {
  assert.ok(Math.abs(estimateKw(WorkMode.Normal, 3.25, 110, 110) - 3.25) < 1e-9);
  assert.ok(Math.abs(estimateKw(WorkMode.Normal, 3.25, 55, 110) - (STANDBY_KW + (3.25 - STANDBY_KW) / 2)) < 1e-9);
  assert.ok(Math.abs(estimateKw(WorkMode.LowPower, 3.25, 110, 110) - 3.25 * LOW_POWER_SHARE) < 1e-9);
  assert.is(estimateKw(WorkMode.Sleep, 3.25, 0, 110), STANDBY_KW);
  assert.ok(estimateKw(WorkMode.Sleep, 3.25, 50, 110) > 1, 'still stopping: still drawing');
  assert.is(estimateKw(WorkMode.Normal, 3.25, 80, NaN), 3.25);
  assert.is(estimateKw(WorkMode.Normal, 3.25, 0, NaN), STANDBY_KW);
});

digest.run();
conf.run();
api.run();
ident.run();
power.run();
