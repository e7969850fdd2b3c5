/**
 * What a simulated Avalon says about itself: its `version` row, its work levels and machine
 * figures, and its `estats` MM string in the firmware's own field order and formats. The field
 * set follows the A1246/Q captures in asic-rs (src/test/json/cgminer/avalon/, avalonminer/avalon)
 * and Canaan's A10 API manual §3.3; serials, MACs and build hashes here are made up.
 */
export interface AvalonProfile {
  name: string;
  version: Record<string, string>;
  /** the STATS key of the MM string: `MM ID0` (A-series) or `MM ID0:Summary` (Q, A15 firmware) */
  mmKey: string;
  /** the MM string wrapped in `'STATS':{…}` (Q firmware) */
  wrapped: boolean;
  /** WALLPOWER[w] reported beside PS[…] */
  wallPower: boolean;
  boards: number;
  fans: number;
  chipsPerBoard: number;
  workMode: number;
  /** the work levels the firmware accepts */
  levels: { lo: number; hi: number };
  /** each level's share of ratedKw, lowest first */
  levelShares: number[];
  ratedKw: number;
  standbyKw: number;
  ratedThs: number;
  stopMs: number;
  wakeMs: number;
  rampMs: number;
}

const A1466_BUILD = '24052801_3a4f2c1';

export const A1466: AvalonProfile = {
  name: 'A1466',
  version: {
    CGMiner: '4.11.1', API: '3.7', PROD: 'AvalonMiner 1466-150', MODEL: '1466', HWTYPE: 'MM4v2_X3', SWTYPE: 'MM319',
    VERSION: A1466_BUILD, LVERSION: A1466_BUILD, BVERSION: A1466_BUILD, CGVERSION: A1466_BUILD, DNA: '020100001a2b3c4d', MAC: 'e0e1a9000001', UPAPI: '2',
  },
  mmKey: 'MM ID0',
  wrapped: false,
  wallPower: false,
  boards: 3,
  fans: 4,
  chipsPerBoard: 120,
  workMode: 1,
  levels: { lo: 0, hi: 2 },
  levelShares: [0.8, 0.9, 1],
  ratedKw: 3.3,
  standbyKw: 0.04,
  ratedThs: 150,
  stopMs: 4000,
  wakeMs: 90_000,
  rampMs: 15_000,
};

const Q_BUILD = '25052801_14a19a2';

export const AVALON_Q: AvalonProfile = {
  name: 'Q',
  version: {
    CGMiner: '4.11.1', API: '3.7', PROD: 'Avalon Q', MODEL: 'Q', HWTYPE: 'Q_MM1v1_X1', SWTYPE: 'MM319',
    LVERSION: Q_BUILD, BVERSION: Q_BUILD, CGVERSION: Q_BUILD, HBMCUVERSION: 'Q_hb_v1.1', FANMCUVERSION: 'Q_fb_v1.2', DNA: '02010000aabbccdd', MAC: 'e0e1a9000002',
  },
  mmKey: 'MM ID0:Summary',
  wrapped: true,
  wallPower: true,
  boards: 1,
  fans: 4,
  chipsPerBoard: 160,
  workMode: 1,
  levels: { lo: 0, hi: 2 },
  levelShares: [0.8, 0.9, 1],
  ratedKw: 1.674,
  standbyKw: 0.06,
  ratedThs: 90,
  stopMs: 3000,
  wakeMs: 60_000,
  rampMs: 10_000,
};

export interface MmState {
  elapsedS: number;
  softOff: boolean;
  waking: boolean;
  kw: number;
  standbyKw: number;
  ghs: number;
  ghsAvg: number;
  ghsmm: number;
  tempC: number;
  level: number;
  mpoW: number;
  softOffTimeS: number;
  softOnTimeS: number;
}

const f2 = (x: number) => x.toFixed(2);
const list = (n: number, v: (i: number) => number | string) => Array.from({ length: n }, (_, i) => v(i)).join(' ');

/** the estats MM string of a profile in a state */
export function estatsMm(p: AvalonProfile, s: MmState): string {
  const build = p.version.LVERSION ?? p.version.VERSION ?? '';
  const hashing = !s.softOff && s.kw > s.standbyKw * 1.5;
  const work = s.softOff ? 'Idle' : s.waking ? 'Init' : 'Work';
  const boardW = Math.max(0, (s.kw - s.standbyKw) * 1000 * 0.93);
  const vout = hashing ? 1316 : 4;
  const iout = hashing ? Math.round((boardW / vout) * 100) : 0;
  const fanRpm = hashing ? 4200 : 1200;
  const tmax = Math.round(s.tempC);
  const tavg = Math.round(s.tempC - 7);
  const ambient = 25;
  const fields: [string, string][] = [
    ['Ver', `${p.version.MODEL}-${build}`],
    ['LVer', build],
    ['BVer', build],
    ['HashMcu0Ver', `${p.name}_hb_v1.1`],
    ['FanMcuVer', `${p.name}_fb_v1.2`],
    ['CPU', 'K230'],
    ['FW', 'Release'],
    ['DNA', p.version.DNA ?? ''],
    ['STATE', s.softOff ? '0' : '2'],
    ['MEMFREE', '98765'],
    ['NETFAIL', list(8, () => 0)],
    ['SSID', ''],
    ['RSSI', '0'],
    ['NetDevType', '0'],
    ['SYSTEMSTATU', `Work: In ${work}, Hash Board: ${p.boards}`],
    ['Elapsed', String(s.elapsedS)],
    ['BOOTBY', '0x04.00000000'],
    ['LW', String(s.elapsedS * 650)],
    ['MH', list(p.boards, () => 0)],
    ['DHW', '0'],
    ['HW', '0'],
    ['DH', '0.011%'],
    ['ITemp', String(ambient)],
    ['HBITemp', String(ambient + 6)],
    ['HBOTemp', String(tavg)],
    ['TMax', String(tmax)],
    ['TAvg', String(tavg)],
    ['TarT', '75'],
    ...Array.from({ length: p.fans }, (_, i): [string, string] => [`Fan${i + 1}`, String(fanRpm + i * 17)]),
    ['FanR', `${hashing ? 62 : 15}%`],
    ['SoftOffTime', String(s.softOffTimeS)],
    ['SoftOnTime', String(s.softOnTimeS)],
    ['Filter', '0'],
    ['FanErr', '0'],
    ['PS', `0 1213 ${vout} ${iout} ${Math.round(boardW)} 1320 ${Math.round(s.kw * 1000)}`],
    ...(p.wallPower ? [['WALLPOWER', String(Math.round(s.kw * 1000))] as [string, string]] : []),
    ['PCOMM_E', '0'],
    ['GHSspd', f2(s.ghs)],
    ['DHspd', '0.010%'],
    ['GHSmm', f2(s.ghsmm)],
    ['GHSavg', f2(s.ghsAvg)],
    ['WU', f2(s.ghsAvg * 13.9)],
    ['Freq', hashing ? '486.27' : '0.00'],
    ['MGHS', list(p.boards, () => f2(s.ghsAvg / p.boards))],
    ['MTmax', list(p.boards, (i) => tmax - i)],
    ['MTavg', list(p.boards, (i) => tavg - i)],
    ['TA', String(p.boards * p.chipsPerBoard)],
    ['Core', 'A3205'],
    ['BIN', '36'],
    ['PING', '18'],
    ['SoftOFF', s.softOff ? '1' : '0'],
    ['ECHU', list(p.boards, () => 0)],
    ['ECMM', '0'],
    ['PLL0', '8843 5769 5098 4610'],
    ['SF0', '468 486 504 522'],
    ['CRC', list(p.boards, () => 0)],
    ['COMCRC', list(p.boards, () => 0)],
    ['LcdOnoff', '1'],
    ['Activation', '0'],
    ['WORKMODE', String(p.workMode)],
    ['WORKLEVEL', String(s.level)],
    ['MPO', String(s.mpoW)],
    ['CALIALL', '7'],
    ['ADJ', '1'],
    ['Nonce Mask', '25'],
  ];
  const body = fields.map(([k, v]) => `${k}[${v}]`).join(' ');
  return p.wrapped ? `'STATS':{${body}}` : body;
}
