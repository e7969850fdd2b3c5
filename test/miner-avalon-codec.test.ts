import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ErrorCode, HashflexError } from '../agent/errors';
import { ascsetAccepted, levelOfMessage, replyError, softPowerParam, statusOf, workLevelParam } from '../drivers/miner/avalon/ascset';
import { mmStrings, numbers, parseEstats, parseMmFields, workOf } from '../drivers/miner/avalon/estats';
import { identify, modelOf } from '../drivers/miner/avalon/identify';
import { RequestLane } from '../drivers/miner/avalon/lane';
import { MinerClock } from '../drivers/miner/avalon/skew';
import { parseRpcReply } from '../drivers/miner/rpc';

// Golden replies in the firmware's own formats (values are ours; the field names, order and
// shapes are those of Canaan's A10 API manual §3.3 and the A1246 / Q captures in asic-rs).

/** A10/A11 firmware: a six-field PS (no input power), no GHSspd, no WORKLEVEL */
const A10_MM = 'Ver[1066-19101244_ab12cd3_45ef678] DNA[0201000011223344] NETFAIL[0 0 0 0 0 0 0 0] '
  + 'SYSTEMSTATU[Work: In Work, Hash Board: 3 ] Elapsed[7200] MW[1400000 1400010 1400020] LW[4200000] MH[0 1 0] HW[1] '
  + 'DH[0.512%] Temp[24] TMax[73] TAvg[65] Fan1[3600] Fan2[3610] Fan3[3590] Fan4[3605] FanR[54%] Vo[335] '
  //        err  Vctl  Vhash  Iout  Pout(W, to the boards)  Vset
  + 'PS[0 1216 1280 220 2816 1282] PLL0[500 1000 2000 3000] GHSmm[50000.00] GHSavg[49500.00] WU[690000.00] Freq[630.00] '
  + 'Led[0] MGHS[16400.00 16500.00 16600.00] MTmax[73 71 72] MTavg[64 63 65] TA[342] ECHU[512 512 512] ECMM[0] '
  + 'SF0[575 600 625 650] PVT_T0[ 58  57  56] HS_RCD0[Tenv:23 Tavg:65 Fan1:3400 V12:1216 Vout:1277 P_I:220 P_P:2810] '
  + 'MEMFREE[270000 B] FACOPTS0[] WORKMODE[1]';

/** A12-class firmware: seven-field PS whose last field is the power drawn at the PSU input */
const A12_MM = 'Ver[1246-83-21072802_aa11bb2_cc33dd4] SYSTEMSTATU[Work: In Work, Hash Board: 3] Elapsed[24000] '
  + 'Temp[30] TMax[77] TAvg[65] Fan1[5300] FanR[72%] '
  //        err  Vctl  Vhash Iout Pout  Vset  Pin
  + 'PS[0 1210 1312 240 3150 1318 3460] GHSspd[81000.50] GHSmm[84000.00] GHSavg[79600.00] '
  + 'MGHS[26900.00 26000.00 26700.00] MTmax[77 77 76] MTavg[66 65 64] SoftOFF[0] WORKMODE[1] WORKLEVEL[1] MPO[3200] Nonce Mask[25]';

/** Q-class firmware, soft-off: `MM ID0:Summary`, wrapped, WALLPOWER beside PS */
const Q_IDLE_MM = "'STATS':{Ver[Q-25052801_14a19a2] SYSTEMSTATU[Work: In Idle, Hash Board: 1] Elapsed[37850] ITemp[26] "
  + 'HBITemp[27] HBOTemp[27] TMax[0] TAvg[0] Fan1[0] SoftOffTime[1753425250] SoftOnTime[1753425190] '
  + 'PS[0 1222 4 0 0 2245 146] WALLPOWER[139] GHSspd[0.00] GHSmm[55032.79] GHSavg[44499.41] MGHS[44499.41] '
  + 'SoftOFF[4] WORKMODE[0] WORKLEVEL[0] MPO[800] Nonce Mask[25]}';

async function rejects(p: Promise<unknown>, re: RegExp): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert.match(String((e as Error).message), re);
    return;
  }
  assert.unreachable(`resolved; expected a rejection matching ${re}`);
}

const stats = (key: string, mm: string) => ({ STATUS: [{ STATUS: 'S', When: 1765004019, Code: 70, Msg: 'CGMiner stats', Description: 'cgminer 4.11.1' }], STATS: [{ STATS: 0, ID: 'AVA100', [key]: mm, 'MM Count': 1 }, { STATS: 1, ID: 'POOL0' }], id: 1 });

test('MM fields: every Key[value], lists split on spaces, text kept whole, a repeated key keeps its first value', () => {
  const f = parseMmFields('A[1] B[2 3  4] SYSTEMSTATU[Work: In Work, Hash Board: 3] SSID[] Nonce Mask[25] A[9] FanR[55%]');
  assert.is(f.get('A'), '1');
  assert.equal(numbers(f, 'B'), [2, 3, 4]);
  assert.is(f.get('SYSTEMSTATU'), 'Work: In Work, Hash Board: 3');
  assert.is(f.get('SSID'), '');
  assert.is(f.get('Mask'), '25');
  assert.equal(numbers(f, 'FanR'), [55]);
  assert.equal(numbers(f, 'NOPE'), []);
});

test('estats of A10/A11 firmware: the watts are PS[4], the boards\' power; the hash rate is the boards\' MGHS summed', () => {
  const e = parseEstats(stats('MM ID0', A10_MM));
  assert.is(e.watts, 2816);
  assert.is(e.wattsField, 'PS[4]');
  assert.ok(Math.abs((e.ghs ?? 0) - 49500) < 1e-6);
  assert.is(e.tempC, 73);
  assert.is(e.work, 'work');
  assert.is(e.workMode, 1);
  assert.is(e.workLevel, undefined);
  assert.is(e.softOff, undefined);
  assert.is(e.psuError, 0);
});

test('estats of A12-class firmware: the watts are PS[6], drawn at the PSU input; GHSspd, WORKLEVEL and MPO read', () => {
  const e = parseEstats(stats('MM ID0', A12_MM));
  assert.is(e.watts, 3460);
  assert.is(e.wattsField, 'PS[6]');
  assert.is(e.ghs, 81000.5);
  assert.is(e.ghsmm, 84000);
  assert.is(e.workLevel, 1);
  assert.is(e.mpoW, 3200);
  assert.is(e.softOff, 0);
  assert.is(e.tempC, 77);
});

test('estats of Q-class firmware: `MM ID0:Summary`, WALLPOWER first, soft-off read from SoftOFF and SYSTEMSTATU', () => {
  const e = parseEstats(stats('MM ID0:Summary', Q_IDLE_MM));
  assert.is(e.watts, 139);
  assert.is(e.wattsField, 'WALLPOWER');
  assert.is(e.work, 'idle');
  assert.is(e.softOff, 4);
  assert.is(e.ghs, 0);
  assert.is(e.workLevel, 0);
});

test('estats of several MM modules: power and hash rate summed, the hottest chip kept', () => {
  const reply = { STATUS: [{ STATUS: 'S' }], STATS: [{ 'MM ID0': 'PS[0 1 1 1 1000 1 1100] GHSspd[10] TMax[60]', 'MM ID1': 'PS[0 1 1 1 900 1 1000] GHSspd[12] TMax[66]' }] };
  const e = parseEstats(reply);
  assert.is(e.watts, 2100);
  assert.is(e.ghs, 22);
  assert.is(e.tempC, 66);
  assert.is(e.modules, 2);
});

test('an estats reply without an MM string is not an Avalon\'s and throws', () => {
  assert.equal(mmStrings({ STATS: [{ STATS: 0, ID: 'BMM0', Type: 'Antminer S19' }] }), []);
  assert.throws(() => parseEstats({ STATUS: [{ STATUS: 'S' }], STATS: [{ Type: 'x' }] }), /no "MM ID"/);
});

test('SYSTEMSTATU: In Work, In Idle (soft-off), In Init (waking)', () => {
  assert.is(workOf('Work: In Work, Hash Board: 3'), 'work');
  assert.is(workOf('Work: In Idle, Hash Board: 1'), 'idle');
  assert.is(workOf('Work: In Init, Hash Board: 3'), 'init');
  assert.is(workOf(undefined), 'unknown');
});

test('ascset commands are written as the firmware parses them', () => {
  assert.is(softPowerParam('softoff', 1765004020), '0,softoff,1:1765004020');
  assert.is(softPowerParam('softon', 1765004020.7), '0,softon,1:1765004020');
  assert.is(workLevelParam(2), '0,worklevel,set,2');
  assert.is(levelOfMessage('ASC 0 set info: worklevel 2'), 2);
  assert.is(levelOfMessage('workmode 1 worklevel -1'), -1);
});

test('ascset replies: softoff needs "success"; worklevel "set OK"; code 120 and code 45 are refusals that say why', () => {
  const r = (status: string, code: number, msg: string) => ({ STATUS: [{ STATUS: status, When: 1765004019, Code: code, Msg: msg }], id: 1 });
  assert.equal(ascsetAccepted(r('I', 118, 'ASC 0 set info: success softoff:1:1765004020'), 'softoff'), { ok: true, msg: 'ASC 0 set info: success softoff:1:1765004020' });
  assert.is(ascsetAccepted(r('I', 118, 'ASC 0 set info: softoff pending'), 'softoff').ok, false);
  assert.is(ascsetAccepted(r('S', 119, 'ASC 0 set OK'), 'worklevel').ok, true);
  const failed = ascsetAccepted(r('E', 120, 'ASC 0 set failed: worklevel 7 out of range 0~2'), 'worklevel');
  assert.equal(failed, { ok: false, why: 'ASC 0 set failed: worklevel 7 out of range 0~2' });
  const denied = ascsetAccepted(r('E', 45, "Access denied to 'ascset' command"), 'softoff');
  assert.is(denied.ok, false);
  assert.match((denied as { why: string }).why, /access denied .*write access/);
  assert.is(replyError({ id: 1 }), 'reply has no cgminer STATUS');
  assert.is(statusOf(r('S', 22, 'x'))?.when, 1765004019);
});

test('the shared reply parser repairs a reply whose opening brace is lost (Avalon firmware)', () => {
  assert.equal(parseRpcReply(',"STATUS":[{"STATUS":"S"}],"id":1}'), { STATUS: [{ STATUS: 'S' }], id: 1 });
  assert.throws(() => parseRpcReply('<html>'), (e: unknown) => e instanceof HashflexError && e.code === ErrorCode.FrameInvalid);
});

test('the miner clock: a stamp is never before the miner\'s second, at most 2 s after its now and about half a second on average, whatever the skew', () => {
  let seed = 7;
  let lateSum = 0;
  const rnd = () => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31; };
  for (let trial = 0; trial < 200; trial++) {
    const skew = Math.round((rnd() - 0.5) * 600_000);
    const c = new MinerClock();
    let t = 1_765_000_000_000 + Math.round(rnd() * 1e6);
    for (let i = 0; i < 12; i++) {
      const rtt = 1 + Math.round(rnd() * 40);
      const atMiner = t + Math.round(rnd() * rtt) + skew;
      c.observe(Math.floor(atMiner / 1000), t, t + rtt);
      t += 5000 + Math.round(rnd() * 900);
    }
    const minerNow = t + skew;
    const stampMs = c.stamp(t) * 1000;
    assert.ok(stampMs >= Math.floor(minerNow / 1000) * 1000, `trial ${trial}: stamp before the miner's second`);
    assert.ok(stampMs - minerNow <= 2000, `trial ${trial}: stamp ${stampMs - minerNow} ms after the miner's now`);
    lateSum += stampMs - minerNow;
  }
  assert.ok(lateSum / 200 < 700, `on average ${lateSum / 200} ms after the miner's now`);
});

test('the miner clock: seconds since boot are ignored, and a stepped clock is followed', () => {
  const c = new MinerClock();
  c.observe(18633, 1000, 1010);
  assert.is(c.offset(), undefined);
  assert.is(c.stamp(1_765_000_000_400), 1_765_000_001);
  c.observe(1_765_000_000, 1_765_000_000_000, 1_765_000_000_010);
  c.observe(1_765_000_100, 1_765_000_000_500, 1_765_000_000_510); // the miner's clock stepped 100 s
  const off = c.offset();
  assert.ok(off && off.lo >= 99_000 && off.hi <= 101_000, JSON.stringify(off));
});

test('identify: Avalon by its version reply, by its web page; other firmware is not ours', () => {
  const v = (row: Record<string, string>) => ({ STATUS: [{ STATUS: 'S', Code: 22, Msg: 'CGMiner versions' }], VERSION: [row] });
  assert.equal(identify({ version: v({ PROD: 'AvalonMiner 1246-83', MODEL: '1246', VERSION: '21072802_4ec6bb0' }) }), { make: 'Canaan', model: 'AvalonMiner 1246', firmware: 'stock 21072802_4ec6bb0', driver: 'avalon' });
  assert.equal(identify({ version: v({ PROD: 'Avalon Q', MODEL: 'Q', LVERSION: '25052801_14a19a2' }) }), { make: 'Canaan', model: 'Avalon Q', firmware: 'stock 25052801_14a19a2', driver: 'avalon' });
  assert.is(modelOf({ PROD: 'AvalonNano-3', MODEL: 'Nano3' }), 'AvalonMiner Nano3');
  assert.is(identify({ version: v({ Type: 'Antminer S19 Pro', CompileTime: 'x' }) }), undefined);
  assert.is(identify({ version: v({ PROD: 'Avalon', BOSminer: 'bosminer-plus 0.9' }) }), undefined);
  assert.equal(identify({ web: { status: 200, headers: {}, body: '<title>Avalon Device</title>' } })?.driver, 'avalon');
  assert.is(identify({ web: { status: 200, headers: {}, body: 'Braiins OS ... Avalon' } }), undefined);
  assert.is(identify({}), undefined);
});

test('the lane: a trip goes before waiting work, aborts a read on the wire, waits for a write, and drops waiting writes', async () => {
  const lane = new RequestLane('m');
  const order: string[] = [];
  let finishWrite!: () => void;
  const w1 = lane.push('write', 'w1', () => new Promise<void>((r) => { order.push('w1'); finishWrite = r; }));
  const w2 = lane.push('write', 'w2', async () => { order.push('w2'); });
  const r1 = lane.push('read', 'r1', async () => { order.push('r1'); });
  const trip = lane.push('trip', 'trip', async () => { order.push('trip'); });
  await rejects(w2, /w2 dropped: a stop came after it/);
  assert.is(lane.busy, 'write', 'the write on the wire is not aborted');
  finishWrite();
  await Promise.all([w1, trip, r1]);
  assert.equal(order, ['w1', 'trip', 'r1']);

  let aborted = false;
  const read = lane.push('read', 'slow read', (signal) => new Promise<void>((_, reject) => {
    signal.addEventListener('abort', () => { aborted = true; reject(new Error('canceled')); });
  }));
  const t2 = lane.push('trip', 'trip 2', async () => 'sent');
  await rejects(read, /canceled/);
  assert.is(await t2, 'sent');
  assert.ok(aborted);
  lane.close();
  await rejects(lane.push('read', 'late', async () => {}), /closed/);
});

test.run();
