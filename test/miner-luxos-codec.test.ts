import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ErrorCode, isHashflexError } from '../agent/errors';
import { identify as antminerIdentify } from '../drivers/miner/antminer';
import { identify } from '../drivers/miner/luxos';
import { accepted, curtailParam, keepaliveParam, parseLogon, parsePoll, parseProfiles, parseVersion, POLL_COMMAND, profileParam } from '../drivers/miner/luxos/api';
import { ProfileScale } from '../drivers/miner/luxos/scale';

/**
 * The LuxOS codec, identification and profile scale as pure functions, on replies in the shapes
 * Luxor's API pages print (docs.luxor.tech/firmware/api: logon, session, curtail, profileset).
 */
const status = (STATUS: string, Code: number, Msg: string) => [{ STATUS, When: 1706294726, Code, Msg, Description: 'LUXminer 2024.1.26.143259-2d8448bf' }];

function throwsCode(fn: () => unknown, code: ErrorCode, re: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.ok(isHashflexError(e, code), `code ${(e as { code?: number }).code}`);
    assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable('did not throw');
}

test('logon gives the session id from SESSION, and the refusal while another session is live is told apart from other errors', () => {
  // the documented reply (logon page) and the refusal luxos-tooling checks for (code 402, no SESSION)
  assert.equal(parseLogon({ SESSION: [{ SessionID: 'yJN2nlj1' }], STATUS: status('S', 316, 'Session created'), id: 1 }), { ok: true, sessionId: 'yJN2nlj1' });
  assert.equal(parseLogon({ STATUS: status('E', 402, 'Another session is active'), id: 1 }), { ok: false, busy: true, why: 'Another session is active' });
  assert.equal(parseLogon({ STATUS: status('E', 14, 'Invalid command'), id: 1 }), { ok: false, busy: false, why: 'STATUS E code 14: Invalid command' });
  for (const sid of ['', 'a,b', 'x y', 'a'.repeat(65), 42, null]) {
    const r = parseLogon({ SESSION: [{ SessionID: sid }], STATUS: status('S', 316, 'Session created'), id: 1 });
    assert.is(r.ok, false, `SessionID ${JSON.stringify(sid)} is not usable`);
  }
  assert.is(parseLogon({}).ok, false);
});

test('the commands that change the miner carry the session first, as the curtail and profileset pages show', () => {
  assert.is(curtailParam('yJN2nlj1', 'sleep'), 'yJN2nlj1,sleep');
  assert.is(curtailParam('yJN2nlj1', 'wakeup'), 'yJN2nlj1,wakeup');
  assert.is(profileParam('yJN2nlj1', 'default'), 'yJN2nlj1,default');
  assert.is(keepaliveParam('yJN2nlj1', 'blink'), 'yJN2nlj1,red,blink', 'the LED is left as it shows');
  assert.is(keepaliveParam('yJN2nlj1', undefined), 'yJN2nlj1,red,off');
  assert.is(keepaliveParam('yJN2nlj1', 'on,red'), 'yJN2nlj1,red,off', 'an odd LED state is not echoed into the parameter');
  assert.is(POLL_COMMAND, 'power+summary+config+stats');
});

test('a refusal names whether the session was the trouble', () => {
  assert.equal(accepted({ CURTAIL: [{ Action: 'sleep mode' }], STATUS: status('S', 335, 'Curtailment command sent'), id: 1 }), { ok: true });
  assert.equal(accepted({ STATUS: status('E', 400, 'Invalid session id: abc'), id: 1 }), { ok: false, why: 'STATUS E code 400: Invalid session id: abc', session: true });
  assert.equal(accepted({ STATUS: status('E', 336, 'Curtail failed'), id: 1 }), { ok: false, why: 'STATUS E code 336: Curtail failed', session: false });
  assert.equal(accepted({ id: 1 }), { ok: false, why: 'reply has no cgminer STATUS', session: false });
});

test('profiles keep the ones a parameter can carry and whose power is believable', () => {
  const reply = {
    PROFILES: [
      { 'Profile Name': '145MHz', Watts: 633, Hashrate: 27.67, Step: '-16', Frequency: 145, Voltage: 11.8 },
      { 'Profile Name': 'default', Watts: 3068, Hashrate: 104, Step: '0' },
      { 'Profile Name': '570MHz', Watts: 3300, Hashrate: 108.8, Step: '1' },
      { 'Profile Name': 'default', Watts: 10, Step: '0' },
      { 'Profile Name': 'bad,name', Watts: 1000 },
      { 'Profile Name': 'nowatts', Watts: 'n/a' },
      { 'Profile Name': 'huge', Watts: 5e6 },
      'not an object',
    ],
    STATUS: status('S', 327, 'Profiles'),
    id: 1,
  };
  assert.equal(parseProfiles(reply), [
    { name: '145MHz', watts: 633, ths: 27.67, step: -16 },
    { name: 'default', watts: 3068, ths: 104, step: 0 },
    { name: '570MHz', watts: 3300, ths: 108.8, step: 1 },
  ]);
  throwsCode(() => parseProfiles({ STATUS: status('S', 327, 'Profiles'), id: 1 }), ErrorCode.FrameInvalid, /no PROFILES list/);
  throwsCode(() => parseProfiles({ STATUS: status('E', 14, 'Invalid command'), id: 1 }), ErrorCode.FrameInvalid, /Invalid command/);
});

test('the scale offers the profiles by power up to the default, and over-clocking only when asked', () => {
  const profiles = [
    { name: '570MHz', watts: 3300, ths: 108.8, step: 1 },
    { name: 'default', watts: 3068, ths: 104, step: 0 },
    { name: '520MHz', watts: 2850, ths: 99.2, step: -1 },
    { name: '495MHz', watts: 2640, ths: 94.6, step: -2 },
  ];
  const scale = new ProfileScale(false, 3.1, 0.02);
  assert.is(scale.max, 1, 'on/off until the firmware lists its profiles');
  assert.is(scale.kwAt(1), 3.1);
  scale.update(profiles);
  assert.equal(scale.profiles.map((p) => p.name), ['495MHz', '520MHz', 'default']);
  assert.equal([scale.max, scale.kwAt(0), scale.kwAt(1), scale.kwAt(3), scale.kwAt(9)], [3, 0.02, 2.64, 3.068, 3.068]);
  assert.is(scale.settingOf('520MHz'), 2);
  assert.is(scale.settingOf('570MHz', 3300), 3, 'a profile off the scale is read as the nearest step by power');
  assert.is(scale.settingOf('custom', 2700), 1);
  assert.is(scale.settingOf('custom'), undefined);
  const oc = new ProfileScale(true, 3.1, 0.02);
  oc.update(profiles);
  assert.equal(oc.profiles.map((p) => p.name), ['495MHz', '520MHz', 'default', '570MHz']);
  // no Step field: over the default's power is over-clocked
  const noSteps = new ProfileScale(false, 3.1, 0.02);
  noSteps.update(profiles.map(({ step: _s, ...p }) => p));
  assert.is(noSteps.max, 3);
});

test('the poll reads power, hashrate, curtail mode, profile and temperature from one multi-command reply', () => {
  const ok = (body: Record<string, unknown>) => [{ STATUS: status('S', 1, 'x'), ...body, id: 1 }];
  const reply = {
    power: ok({ POWER: [{ PSU: true, Watts: 3068 }] }),
    summary: ok({ SUMMARY: [{ 'GHS 5s': 104000.5, Elapsed: 60 }] }),
    config: ok({ CONFIG: [{ CurtailMode: 'None', Profile: 'default', RedLed: 'Off', IsAtmEnabled: true }] }),
    stats: ok({ STATS: [{ ID: 'x' }, { temp_num: 3, temp1: 58, temp2_1: 66, temp2_2: 71 }] }),
    id: 1,
  };
  assert.equal(parsePoll(reply), { watts: 3068, ths: 104.0005, tempC: 71, asleep: false, profile: 'default', redLed: 'off', atm: true });
  const asleep = parsePoll({ ...reply, config: ok({ CONFIG: [{ CurtailMode: 'Sleep' }] }) });
  assert.equal([asleep.asleep, asleep.profile], [true, undefined]);
  assert.is(parsePoll({ ...reply, config: ok({ CONFIG: [{}] }) }).asleep, undefined, 'a config that does not say');
  throwsCode(() => parsePoll({ ...reply, summary: undefined }), ErrorCode.FrameInvalid, /no "summary" reply/);
  throwsCode(() => parsePoll({ ...reply, config: [{ STATUS: status('E', 14, 'Invalid command'), id: 1 }] }), ErrorCode.FrameInvalid, /config: STATUS E code 14/);
  throwsCode(() => parsePoll({ ...reply, summary: ok({ SUMMARY: [{}] }) }), ErrorCode.FrameInvalid, /GHS 5s/);
});

const version = { STATUS: status('S', 22, 'LUXminer versions'), VERSION: [{ API: '3.7', LUXminer: '2024.1.26.143259-2d8448bf', Miner: '2024.1.26.143259-2d8448bf', Type: 'Antminer S19j Pro (88)' }], id: 1 };

test('identify() claims LUXminer replies and the Luxor Firmware page, and nothing that names a family pyasic tells apart first', () => {
  assert.equal(parseVersion(version), { type: 'Antminer S19j Pro (88)', firmware: '2024.1.26.143259-2d8448bf' });
  assert.equal(identify({ version }), { make: 'Bitmain', model: 'S19j Pro', firmware: 'LuxOS 2024.1.26.143259-2d8448bf', driver: 'luxos' });
  assert.equal(identify({ devdetails: { STATUS: status('S', 69, 'Device Details'), DEVDETAILS: [{ Model: 'Antminer S19j Pro' }], id: 1 } }), { make: 'Bitmain', model: 'Antminer', firmware: 'LuxOS', driver: 'luxos' });
  assert.is(identify({ web: { status: 200, headers: {}, body: '<title>Luxor Firmware</title>' } })?.driver, 'luxos');
  assert.is(identify({ web: { status: 200, headers: {}, body: 'Braiins OS ... Luxor Firmware' } }), undefined);
  const bos = { STATUS: [{ STATUS: 'S', Code: 22, Msg: 'BOSminer versions', Description: 'BOSminer+ 0.2.0 LUXminer-compatible' }], id: 1 };
  assert.is(identify({ version: bos }), undefined);
  const stock = { STATUS: [{ STATUS: 'S', Code: 22, Msg: 'BMMiner versions', Description: 'bmminer 1.0.0' }], VERSION: [{ BMMiner: '1.0.0', Type: 'Antminer S19 Pro' }], id: 1 };
  assert.is(identify({ version: stock }), undefined);
  assert.is(identify({ web: { status: 401, headers: { 'www-authenticate': 'Digest realm="antMiner Configuration"' }, body: '' } }), undefined);
});

test('the stock Antminer identify() does not claim LuxOS on Antminer hardware', () => {
  const devdetails = { STATUS: status('S', 69, 'Device Details'), DEVDETAILS: [{ Model: 'Antminer S19j Pro' }], id: 1 };
  const web = { status: 200, headers: {}, body: '<title>Luxor Firmware</title>' };
  assert.is(antminerIdentify({ version }), undefined);
  assert.is(antminerIdentify({ devdetails }), undefined);
  assert.is(antminerIdentify({ version, devdetails, web }), undefined);
  assert.is(antminerIdentify({ web }), undefined);
});

test.run();
