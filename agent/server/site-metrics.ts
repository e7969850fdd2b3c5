import type { MinerState } from '../hardware';
import type { Site } from '../site';

const STATES = ['running', 'curtailed', 'tripped', 'ramping', 'fault'] as const;
const MINER_STATES: readonly MinerState[] = ['hashing', 'waking', 'stopping', 'sleeping', 'unreachable', 'unknown'];

/**
 * Prometheus text for the site: grid, miners, state, per-board, per-network-miner and per-link
 * figures, trips by source. Same hand-written exposition as uplinkMetrics (read from fields the
 * site already keeps).
 */
export function siteMetrics(site: Site): string {
  const t = site.telemetry();
  const out: string[] = [];
  const family = (name: string, type: 'gauge' | 'counter', help: string, samples: [Record<string, string> | undefined, number][]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of samples) {
      const l = labels ? `{${Object.entries(labels).map(([k, x]) => `${k}="${x.replace(/["\\\n]/g, '_')}"`).join(',')}}` : '';
      out.push(`${name}${l} ${Number.isFinite(v) ? v : 'NaN'}`);
    }
  };
  family('hashflex_grid_hz', 'gauge', 'Grid frequency from the meter', [[undefined, t.grid.hz]]);
  family('hashflex_grid_kw', 'gauge', 'Grid active power, positive = import', [[undefined, t.grid.kw]]);
  family('hashflex_miners_kw', 'gauge', 'Miners power estimated from board frequencies', [[undefined, t.miners.kw]]);
  family('hashflex_miners_target_kw', 'gauge', 'Miners power target', [[undefined, t.miners.target_kw]]);
  family('hashflex_state', 'gauge', '1 for the site state in force', STATES.map((s) => [{ state: s }, t.state === s ? 1 : 0]));
  family('hashflex_meter_age_ms', 'gauge', 'Age of the last meter sample', [[undefined, t.meter?.age_ms ?? -1]]);
  family('hashflex_board_on', 'gauge', '1 while the board hashes', t.boards.map((b) => [{ board: b.id }, b.on ? 1 : 0]));
  family('hashflex_board_mhz', 'gauge', 'Chip frequency', t.boards.map((b) => [{ board: b.id }, b.mhz]));
  family('hashflex_board_kw', 'gauge', 'Board power estimate', t.boards.map((b) => [{ board: b.id }, b.kw]));
  family('hashflex_board_temp_c', 'gauge', 'Board temperature', t.boards.map((b) => [{ board: b.id }, b.temp_c ?? Number.NaN]));
  family('hashflex_fan_duty', 'gauge', 'Fan PWM duty 0..1', t.fans.map((f) => [{ fan: f.id }, f.duty]));
  family('hashflex_fan_rpm', 'gauge', 'Fan speed', t.fans.map((f) => [{ fan: f.id }, f.rpm]));
  // network miners (telemetry's network_miners), labelled with their firmware family
  const miners = site.hw.miners ?? [];
  const driverOf = new Map(miners.map((m) => [m.id, m.driver]));
  const nm = (t.network_miners ?? []).map((m) => ({ m, l: { miner: m.id, driver: driverOf.get(m.id) ?? 'unknown' } }));
  family('hashflex_miner_on', 'gauge', '1 while the network miner hashes (or is waking up to)', nm.map(({ m, l }) => [l, m.on ? 1 : 0]));
  family('hashflex_miner_kw', 'gauge', 'Network miner power: its own reading, or the estimate from rated_kw and its mode', nm.map(({ m, l }) => [l, m.kw]));
  family('hashflex_miner_ths', 'gauge', 'Network miner hashrate (TH/s)', nm.map(({ m, l }) => [l, m.ths ?? Number.NaN]));
  family('hashflex_miner_temp_c', 'gauge', 'Network miner hottest board or chip', nm.map(({ m, l }) => [l, m.temp_c ?? Number.NaN]));
  family('hashflex_miner_state', 'gauge', '1 for the network miner state in force', nm.flatMap(({ m, l }) => MINER_STATES.map((st): [Record<string, string>, number] => [{ ...l, state: st }, m.state === st ? 1 : 0])));
  family('hashflex_miner_fault', 'gauge', '1 while the network miner has a fault (unreachable, refused credentials, garbage) or is held out for one', nm.map(({ m, l }) => [l, m.fault ? 1 : 0]));
  // link counters: the meter and boards from telemetry, each network miner's from its driver
  // (kept out of telemetry: a thousand miners would add some 100 KB a frame)
  const links: Record<string, Record<string, number>> = { ...t.links };
  for (const m of miners) links[m.id] ??= { ...m.status().counters };
  for (const key of ['requests', 'frames', 'timeouts', 'crcErrors', 'exceptions', 'resyncs', 'reconnects']) {
    const name = `hashflex_link_${key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}_total`;
    family(name, 'counter', `Link ${key} per device link`, Object.entries(links).map(([link, c]) => [{ link }, c[key] ?? 0]));
  }
  family('hashflex_trips_total', 'counter', 'Trips by source since start', Object.entries(site.tripCounts).map(([source, n]) => [{ source }, n]));
  return `${out.join('\n')}\n`;
}
