import type { SimMachine } from './machine';

/**
 * The stock Antminer's bmminer API replies (TCP 4028) for the simulator (sim/miners/antminer.ts),
 * with the fields pyasic reads (pyasic/miners/backends/bmminer.py) and the firmware's quirk of
 * running the two STATS objects together (`}{`). Values follow the SimMachine: hashrate from
 * its power, temperatures from its own, fans that idle while it sleeps.
 */
export const COMPILE_TIME = 'Thu Jul 27 14:29:16 CST 2023';
const BOARDS = 3;
const CHIPS_PER_BOARD = 114;

export interface MinerView {
  machine: SimMachine;
  /** VERSION Type, e.g. "Antminer S19 Pro" */
  model: string;
  /** seconds since the miner program started */
  elapsedS: number;
}

function status(code: number, msg: string, state = 'S'): string {
  return JSON.stringify([{ STATUS: state, When: Math.floor(Date.now() / 1000), Code: code, Msg: msg, Description: 'bmminer 1.0.0' }]);
}

function versionBlock(model: string): Record<string, unknown> {
  return { BMMiner: '1.0.0', API: '3.1', Miner: 'uart_trans.1.3', CompileTime: COMPILE_TIME, Type: model };
}

/** the firmware's reply text to one command (no NUL: serveRpc adds it) */
export function bmminerReply(command: string, m: MinerView): string {
  const ghs = m.machine.ths * 1000;
  const elapsed = m.elapsedS;
  switch (command) {
    case 'version':
      return `{"STATUS":${status(22, 'BMMiner versions')},"VERSION":[${JSON.stringify(versionBlock(m.model))}],"id":1}`;
    case 'summary': {
      const s = {
        Elapsed: elapsed,
        'GHS 5s': ghs.toFixed(2),
        'GHS av': Number(ghs.toFixed(2)),
        'GHS 30m': Number(ghs.toFixed(2)),
        'Found Blocks': 0,
        Getworks: Math.floor(elapsed / 30),
        Accepted: Math.floor(elapsed * 0.8),
        Rejected: Math.floor(elapsed * 0.002),
        'Hardware Errors': 0,
        Utility: 48.2,
        Discarded: Math.floor(elapsed * 2),
        Stale: 0,
        'Get Failures': 0,
        'Local Work': Math.floor(elapsed * 40),
        'Remote Failures': 0,
        'Network Blocks': Math.floor(elapsed / 600),
        'Total MH': Math.floor(ghs * 1000 * elapsed),
        'Work Utility': 1.4e6,
        'Difficulty Accepted': Math.floor(elapsed * 65536),
        'Difficulty Rejected': 0,
        'Difficulty Stale': 0,
        'Best Share': 123456789,
        'Device Hardware%': 0,
        'Device Rejected%': 0.2,
        'Pool Rejected%': 0.2,
        'Pool Stale%': 0,
        'Last getwork': Math.floor(Date.now() / 1000),
      };
      return `{"STATUS":${status(11, 'Summary')},"SUMMARY":[${JSON.stringify(s)}],"id":1}`;
    }
    case 'stats': {
      // the firmware's own quirk: the two STATS objects with no comma between them
      return `{"STATUS":${status(70, 'BMMiner stats')},"STATS":[${JSON.stringify(versionBlock(m.model))}${JSON.stringify(statsBlock(m.machine, ghs, elapsed))}],"id":1}`;
    }
    case 'devdetails': {
      const d = Array.from({ length: BOARDS }, (_, i) => ({ DEVDETAILS: i, Name: 'BTM_SOC0', ID: i, Driver: 'bitmain', Kernel: '', Model: '', 'Device Path': '' }));
      return `{"STATUS":${status(69, 'Device Details')},"DEVDETAILS":${JSON.stringify(d)},"id":1}`;
    }
    default:
      return `{"STATUS":${status(14, 'Invalid command', 'E')},"id":1}`;
  }
}

/** the miner block of `stats` (STATS[1]); LuxOS serves the same block (sim/miners/luxos-api.ts) */
export function statsBlock(m: SimMachine, ghs: number, elapsed: number): Record<string, unknown> {
  const share = Math.max(0, m.kw / m.spec.ratedKw);
  const hashing = ghs > 0;
  const chip = Math.round(m.tempC);
  const pcb = chip - 8;
  const fan = Math.round(hashing ? 3000 + 2700 * share : 0);
  const s: Record<string, unknown> = {
    STATS: 0,
    ID: 'BTM_SOC0',
    Elapsed: elapsed,
    Calls: 0,
    Wait: 0,
    Max: 0,
    Min: 99999999,
    'GHS 5s': Number(ghs.toFixed(2)),
    'GHS av': Number(ghs.toFixed(2)),
    rate_30m: Number(ghs.toFixed(2)),
    Mode: 2,
    miner_count: BOARDS,
    frequency: 675,
    fan_num: 4,
    fan1: fan, fan2: fan, fan3: fan, fan4: fan,
    temp_num: BOARDS,
  };
  for (let i = 1; i <= BOARDS; i++) {
    s[`temp${i}`] = pcb;
    s[`temp2_${i}`] = chip;
    s[`temp_pcb${i}`] = `${pcb}-${pcb}-${pcb + 6}-${pcb + 6}`;
    s[`temp_chip${i}`] = `${chip - 6}-${chip - 6}-${chip}-${chip}`;
    s[`temp_pic${i}`] = `${pcb - 10}-${pcb - 10}-${pcb - 4}-${pcb - 4}`;
  }
  s.temp_pcb4 = '0-0-0-0';
  s.temp_chip4 = '0-0-0-0';
  s.temp_pic4 = '0-0-0-0';
  Object.assign(s, {
    total_rateideal: m.spec.ratedThs * 1000,
    rate_unit: 'GH',
    total_freqavg: 675,
    total_acn: BOARDS * CHIPS_PER_BOARD,
    'total rate': Number((ghs / 1000).toFixed(4)),
    temp_max: chip,
    no_matching_work: 0,
  });
  for (let i = 1; i <= BOARDS; i++) {
    s[`chain_acn${i}`] = CHIPS_PER_BOARD;
    s[`chain_acs${i}`] = hashing ? ` ${'oooooooo '.repeat(14)}oo` : '';
    s[`chain_hw${i}`] = 0;
    s[`chain_rate${i}`] = (ghs / BOARDS).toFixed(2);
    s[`chain_rateideal${i}`] = ((m.spec.ratedThs * 1000) / BOARDS).toFixed(2);
  }
  s.miner_version = 'uart_trans.1.3';
  s.miner_id = '8118b4c2ab1d481c';
  return s;
}
