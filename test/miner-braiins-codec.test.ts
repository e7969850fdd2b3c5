import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ErrorCode, HashflexError } from '../agent/errors';
import { identify as antminerIdentify } from '../drivers/miner/antminer';
import { identify as avalonIdentify } from '../drivers/miner/avalon';
import { identify, modelOf } from '../drivers/miner/braiins/identify';
import { bosService, type BosService } from '../drivers/miner/braiins/proto';
import { parseApiVersion, parseConstraints, parseCooling, parseDetails, parseStats, parseTuner } from '../drivers/miner/braiins/replies';
import { identify as whatsminerIdentify } from '../drivers/miner/whatsminer';

/**
 * The Braiins OS+ wire format and reply checks, without a network: golden protobuf bytes written
 * by hand from the published protos (braiins/bos-plus-api proto/bos/v1: field numbers and wire
 * types), so proto.ts cannot drift from what a real miner sends; the reply checks; identify().
 */
const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
function method(service: BosService, name: string) {
  const m = bosService(service)[name];
  assert.ok(m, `${service}/${name}`);
  return m;
}

test('SetPowerTargetRequest encodes save_action (field 1) and power_target.watt (field 2, Power field 1) as the published proto numbers them', () => {
  const bytes = method('braiins.bos.v1.PerformanceService', 'SetPowerTarget').requestSerialize({ save_action: 2, power_target: { watt: 3000 } });
  // 08 02          field 1 varint: SAVE_ACTION_SAVE_AND_APPLY
  // 12 03          field 2, 3 bytes: Power
  //    08 b8 17    field 1 varint 3000
  assert.equal(bytes, hex('08 02 12 03 08 b8 17'));
  assert.is(method('braiins.bos.v1.PerformanceService', 'SetPowerTarget').path, '/braiins.bos.v1.PerformanceService/SetPowerTarget');
});

test('LoginRequest is username (1) and password (2); LoginResponse is token (1) and timeout_s (2)', () => {
  const login = method('braiins.bos.v1.AuthenticationService', 'Login');
  assert.equal(login.requestSerialize({ username: 'root', password: 'root' }), hex('0a 04 726f6f74 12 04 726f6f74'));
  // 0a 10 "FvZarvVQLCtzNaM6" (the README's example token)   10 90 1c  timeout_s 3600
  const r = login.responseDeserialize(Buffer.concat([hex('0a 10'), Buffer.from('FvZarvVQLCtzNaM6'), hex('10 90 1c')]));
  assert.equal(r, { token: 'FvZarvVQLCtzNaM6', timeout_s: 3600 });
  assert.equal(login.responseDeserialize(Buffer.alloc(0)), { token: '', timeout_s: 0 }, 'firmware before API 1.1: an empty message');
});

test('PauseMiningResponse.already_paused is field 1; the method paths are the published ones', () => {
  const pause = method('braiins.bos.v1.ActionsService', 'PauseMining');
  assert.equal(pause.responseDeserialize(hex('08 01')), { already_paused: true });
  assert.is(pause.path, '/braiins.bos.v1.ActionsService/PauseMining');
  assert.is(method('braiins.bos.ApiVersionService', 'GetApiVersion').path, '/braiins.bos.ApiVersionService/GetApiVersion');
  assert.is(method('braiins.bos.v1.MinerService', 'GetMinerStats').path, '/braiins.bos.v1.MinerService/GetMinerStats');
});

test('GetMinerDetailsResponse: bos_version (5) and status (12) decode, fields this project does not name are skipped', () => {
  // 2a 07 0a 05 "24.04"     bos_version { current }
  // 60 03                   status MINER_STATUS_PAUSED
  // 82 01 02 08 01          field 16 (serial_number, not in proto.ts): skipped
  const d = parseDetails(method('braiins.bos.v1.MinerService', 'GetMinerDetails').responseDeserialize(Buffer.concat([hex('2a 07 0a 05'), Buffer.from('24.04'), hex('60 03 82 01 02 08 01')])));
  assert.is(d.status, 3);
  assert.is(d.firmware, '24.04');
  assert.is(d.model, undefined);
});

test('GetMinerStatsResponse: power_stats (3) approximated_consumption and miner_stats (2) real_hashrate.last_5s decode to watts and TH/s', () => {
  const gh104k = '09 0000000000 64f940'; // GigaHashrate { double 104000 }, little-endian
  const bytes = hex(`12 0d 0a 0b 0a 09 ${gh104k}   1a 05 0a 03 08 fc 17`);
  const s = parseStats(method('braiins.bos.v1.MinerService', 'GetMinerStats').responseDeserialize(bytes));
  assert.is(s.watts, 3068);
  assert.is(s.ths, 104);
  assert.ok(Number.isNaN(s.nominalThs));
});

test('GetConstraintsResponse: tuner_constraints.power_target min (2) and max (3) give the scale', () => {
  const bytes = hex('0a 0c 0a 0a 12 03 08 e8 07 1a 03 08 90 1c');
  assert.equal(parseConstraints(method('braiins.bos.v1.ConfigurationService', 'GetConstraints').responseDeserialize(bytes)), { min: 1000, max: 3600 });
  assert.is(parseApiVersion(method('braiins.bos.ApiVersionService', 'GetApiVersion').responseDeserialize(hex('08 01 10 05'))), '1.5.0');
});

test('Bytes that are no protobuf message throw on decode (grpc-js then fails the call as unreadable)', () => {
  assert.throws(() => method('braiins.bos.v1.MinerService', 'GetMinerStats').responseDeserialize(hex('0f ff fe 13')));
});

function refusedAs(fn: () => unknown, field: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, HashflexError);
    assert.is((e as HashflexError).code, ErrorCode.FrameInvalid);
    assert.match((e as Error).message, field);
    return;
  }
  assert.unreachable('accepted');
}

test('Absurd values are refused with the field named: power, hashrate, temperature, a status that is no number', () => {
  refusedAs(() => parseStats({ power_stats: { approximated_consumption: { watt: 250_000 } } }), /approximated_consumption 250000 is outside 0\.\.30000/);
  refusedAs(() => parseStats({ miner_stats: { real_hashrate: { last_5s: { gigahash_per_second: 5e9 } } } }), /last_5s/);
  refusedAs(() => parseCooling({ highest_temperature: { temperature: { degree_c: 900 } } }), /highest_temperature 900/);
  refusedAs(() => parseDetails({ status: 'PAUSED' }), /status "PAUSED"/);
  refusedAs(() => parseStats('not a message'), /not a message/);
});

test('Absent readings are NaN, not zero; a range that makes no sense is no range; hashrate-target mode has no power target', () => {
  const s = parseStats({ miner_stats: null, power_stats: null });
  assert.ok(Number.isNaN(s.watts) && Number.isNaN(s.ths));
  assert.ok(Number.isNaN(parseCooling({ highest_temperature: null })));
  assert.is(parseConstraints({ tuner_constraints: { power_target: { min: { watt: 3000 }, max: { watt: 1000 } } } }), undefined);
  assert.is(parseConstraints({ tuner_constraints: null }), undefined);
  assert.equal(parseTuner({ overall_tuner_state: 2, hashrate_target_mode_state: { current_target: { terahash_per_second: 90 } } }), { state: 2, mode: 'hashrate' });
  assert.equal(parseTuner({ overall_tuner_state: 3, power_target_mode_state: { current_target: { watt: 2800 } } }), { state: 3, mode: 'power', targetW: 2800 });
});

// ---- identify --------------------------------------------------------------------------------

const BOSER_VERSION = { STATUS: [{ STATUS: 'S', When: 1684938931, Code: 22, Msg: 'BOSer versions', Description: 'BOSer boser-buildroot 0.1.0-0ce150e9' }], VERSION: [{ API: '3.7', BOSer: 'boser-buildroot 0.1.0-0ce150e9' }], id: 1 };
const BOS_DEVDETAILS = { STATUS: [{ STATUS: 'S', Code: 69, Msg: 'Device Details', Description: 'BOSer boser-buildroot 0.1.0-0ce150e9' }], DEVDETAILS: [{ DEVDETAILS: 0, Name: 'Hash Chain 1', ID: 1, Model: 'Bitmain Antminer S19j Pro' }], id: 1 };
const BOS_PAGE = { status: 200, headers: { 'content-type': 'text/html' }, body: '<html><head><title>Braiins OS</title></head></html>' };

test('identify() claims BOS+ by its 4028 version (BOSer), with the model from devdetails without "Bitmain "', () => {
  assert.equal(identify({ version: BOSER_VERSION, devdetails: BOS_DEVDETAILS, web: BOS_PAGE }), { make: 'Bitmain', model: 'Antminer S19j Pro', firmware: 'Braiins OS+ boser-buildroot 0.1.0-0ce150e9', driver: 'braiins' });
  const old = { STATUS: [{ STATUS: 'S', Code: 22, Msg: 'BOSminer+ versions', Description: 'BOSminer+ 0.2.0-36c56a9363' }], VERSION: [{ API: '3.7', 'BOSminer+': '0.2.0-36c56a9363' }] };
  assert.equal(identify({ version: old, devdetails: { DEVDETAILS: [{ Model: 'Bitmain Antminer S9' }] } }), { make: 'Bitmain', model: 'Antminer S9', firmware: 'Braiins OS+ BOSminer+ 0.2.0-36c56a9363', driver: 'braiins' });
  assert.is(modelOf({ DEVDETAILS: [{ Model: 'Bitmain Antminer S19XP' }] }), 'Antminer S19 XP');
});

test('identify() claims a web page named Braiins OS where 4028 says nothing, and nothing that another family\'s API names', () => {
  assert.equal(identify({ web: BOS_PAGE }), { make: 'unknown', model: 'unknown', firmware: 'Braiins OS', driver: 'braiins' });
  const stock = { STATUS: [{ STATUS: 'S', Msg: 'BMMiner versions' }], VERSION: [{ Type: 'Antminer S19 Pro', CompileTime: 'Thu Jul 8 2021' }] };
  assert.is(identify({ version: stock, web: BOS_PAGE }), undefined, 'a stock Antminer\'s API decides over a page');
  assert.is(identify({ version: { VERSION: [{ LUXminer: '2024.5.1' }] } }), undefined);
  assert.is(identify({ version: { STATUS: [{ Description: 'btminer' }] }, web: BOS_PAGE }), undefined);
  assert.is(identify({ version: { VERSION: [{ PROD: 'AvalonMiner 1466-372' }] } }), undefined);
  assert.is(identify({ web: { status: 401, headers: { 'www-authenticate': 'Digest realm="antMiner Configuration"' }, body: 'Braiins OS' } }), undefined);
  assert.is(identify({ web: { status: 200, headers: {}, body: '<html>printer</html>' } }), undefined);
  assert.is(identify({}), undefined);
});

test('The stock families do not claim Braiins OS+ evidence (they are asked after it, but must not claim it either way)', () => {
  const e = { version: BOSER_VERSION, devdetails: BOS_DEVDETAILS, web: BOS_PAGE };
  assert.is(antminerIdentify(e), undefined, 'antminer');
  assert.is(antminerIdentify({ devdetails: BOS_DEVDETAILS, web: BOS_PAGE }), undefined, 'antminer, devdetails and page only');
  assert.is(whatsminerIdentify(e), undefined, 'whatsminer');
  assert.is(avalonIdentify(e), undefined, 'avalon');
});

test.run();
