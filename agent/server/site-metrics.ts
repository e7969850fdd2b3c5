import type { Site } from '../site';

const STATES = ['running', 'curtailed', 'tripped', 'ramping', 'fault'] as const;

/**
 * Prometheus text for the site: grid, miners, state, per-board and per-link figures, trips by
 * source. Same hand-written exposition as uplinkMetrics (read from fields the site already keeps).
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
  for (const key of ['requests', 'frames', 'timeouts', 'crcErrors', 'exceptions', 'resyncs', 'reconnects']) {
    const name = `hashflex_link_${key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}_total`;
    family(name, 'counter', `Link ${key} per device link`, Object.entries(t.links ?? {}).map(([link, c]) => [{ link }, c[key] ?? 0]));
  }
  family('hashflex_trips_total', 'counter', 'Trips by source since start', Object.entries(site.tripCounts).map(([source, n]) => [{ source }, n]));
  return `${out.join('\n')}\n`;
}
