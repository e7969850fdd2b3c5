import type { SimMachine } from './machine';

/**
 * The JSON documents a VNish (AnthillOS) build serves under `/api/v1`, for the simulator
 * (sim/miners/vnish.ts), in the shapes of VNish's API reference and of the fields pyasic reads
 * (pyasic/miners/backends/vnish.py): `info`, `summary`, `settings`, `autotune/presets`,
 * `perf-summary`, and the web app's page. Values follow the SimMachine.
 */
export interface SimPreset {
  /** the preset's name: its power in watts */
  name: string;
  watts: number;
  /** the hashrate its pretty text promises (TH/s) */
  ths: number;
  status: 'tuned' | 'untuned';
  moddedPsu: boolean;
}

/**
 * An S19 (3,250 W, 110 TH/s at stock) after an autotune: five tuned presets on a stock PSU, one
 * not yet tuned, and one that needs a modified PSU (the driver offers neither).
 */
export const S19_PRESETS: readonly SimPreset[] = [
  { name: '1500', watts: 1500, ths: 55, status: 'untuned', moddedPsu: false },
  { name: '1900', watts: 1900, ths: 70, status: 'tuned', moddedPsu: false },
  { name: '2350', watts: 2350, ths: 82, status: 'tuned', moddedPsu: false },
  { name: '2620', watts: 2620, ths: 90, status: 'tuned', moddedPsu: false },
  { name: '2950', watts: 2950, ths: 100, status: 'tuned', moddedPsu: false },
  { name: '3250', watts: 3250, ths: 110, status: 'tuned', moddedPsu: false },
  { name: '3600', watts: 3600, ths: 118, status: 'tuned', moddedPsu: true },
];

export interface VnishView {
  machine: SimMachine;
  /** "Antminer S19" */
  model: string;
  /** "1.2.6" */
  fwVersion: string;
  /** the name the build gives itself: "Vnish", or "AnthillOS" from 1.2.7 on */
  brand: string;
  host: string;
  /** the preset in force ("disabled": manual) */
  preset: string;
  /** set while the firmware reports a failure (its description) */
  failure?: string;
  /** seconds in the present state */
  stateS: number;
}

/** what `summary` says the miner is doing */
export function minerState(v: VnishView): string {
  if (v.failure) return 'failure';
  switch (v.machine.state) {
    case 'hashing': return 'mining';
    case 'waking': return 'initializing';
    case 'stopping': return 'shutting-down';
    case 'sleeping': return 'stopped';
  }
}

export function infoBody(v: VnishView): Record<string, unknown> {
  return {
    miner: v.model,
    model: v.model.replace(/^antminer\s*/i, '').replace(/\s+/g, '').toLowerCase(),
    fw_name: v.brand,
    fw_version: v.fwVersion,
    build_name: 'vnishnet',
    platform: 'xil',
    install_type: 'nand',
    build_time: '2025-05-29 19:22:26+00:00',
    algorithm: 'sha256d',
    hr_measure: 'GH/s',
    system: { os: 'GNU/Linux', miner_name: 's19', network_status: { mac: macOf(v.host), dhcp: true, ip: v.host, hostname: 'antminer' }, uptime: '1:02' },
    serial: 'N/A',
  };
}

export function summaryBody(v: VnishView): Record<string, unknown> {
  const m = v.machine;
  const ghs = Math.round(m.ths * 1000 * 100) / 100;
  const watts = Math.round(m.kw * 1000);
  const hashing = ghs > 0;
  const chip = Math.round(m.tempC);
  const fan = Math.round(hashing ? 3000 + 2700 * Math.max(0, m.kw / m.spec.ratedKw) : 0);
  const state = minerState(v);
  return {
    miner: {
      miner_status: { miner_state: state, miner_state_time: v.stateS, ...(v.failure ? { description: v.failure, failure_code: 1002 } : {}) },
      miner_type: `${v.model} (Vnish ${v.fwVersion})`,
      hr_stock: m.spec.ratedThs * 1000,
      average_hashrate: ghs,
      instant_hashrate: ghs,
      hr_realtime: ghs,
      hr_nominal: m.spec.ratedThs * 1000,
      hr_average: ghs,
      pcb_temp: { min: chip - 14, max: chip - 8 },
      chip_temp: { min: chip - 6, max: chip },
      power_consumption: watts,
      power_usage: watts,
      power_efficiency: ghs > 0 ? Math.round((watts / (ghs / 1000)) * 10) / 10 : 0,
      hw_errors_percent: 0,
      hr_error: 0,
      hw_errors: 0,
      devfee_percent: 2.8,
      devfee: 0,
      pools: [
        { id: 0, url: 'stratum+tcp://btc.pool.example:3333', pool_type: 'UserPool', user: 'site.worker1', status: hashing ? 'active' : 'offline', accepted: 0, rejected: 0, stale: 0 },
        { id: 1, url: 'DevFee', pool_type: 'DevFee', user: 'DevFee', status: 'working', accepted: 0, rejected: 0, stale: 0 },
      ],
      cooling: {
        fan_num: 4,
        fans: [0, 1, 2, 3].map((id) => ({ id, rpm: fan, status: 'ok', max_rpm: 6000 })),
        settings: { mode: { name: 'auto' } },
        fan_duty: hashing ? 60 : 0,
      },
      chains: [0, 1, 2].map((id) => ({ id, hashrate_rt: ghs / 3, chip_temp: { min: chip - 6, max: chip }, status: { state: state === 'mining' ? 'mining' : 'stopped' } })),
      found_blocks: 0,
      best_share: 0,
    },
    system: { network_status: { mac: macOf(v.host), hostname: 'antminer' } },
  };
}

export function defaultSettings(preset: string): Record<string, unknown> {
  return {
    miner: {
      overclock: { preset, globals: { volt: 1380, freq: 675 }, chains: [{ freq: 0 }, { freq: 0 }, { freq: 0 }], modded_psu: false },
      cooling: { mode: { name: 'auto', param: 65 }, fan_min_count: 4, fan_min_duty: 10 },
      pools: [
        { url: 'stratum+tcp://btc.pool.example:3333', user: 'site.worker1', pass: 'x' },
        { url: 'stratum+tcp://backup.pool.example:25', user: 'site.worker1', pass: 'x' },
      ],
      misc: { quiet_mode: false },
    },
    misc: { restart_temp: 90 },
  };
}

function presetEntry(p: SimPreset): Record<string, unknown> {
  return { name: p.name, pretty: `${p.watts} watt ~ ${p.ths} TH`, status: p.status, modded_psu_required: p.moddedPsu };
}

const DISABLED = { name: 'disabled', pretty: 'Disabled', status: 'untuned', modded_psu_required: false };

export function presetsBody(presets: readonly SimPreset[]): unknown[] {
  return [DISABLED, ...presets.map(presetEntry)];
}

export function perfSummaryBody(presets: readonly SimPreset[], preset: string): Record<string, unknown> {
  const p = presets.find((x) => x.name === preset);
  return { current_preset: p ? presetEntry(p) : DISABLED, preset_switcher: { enabled: false, top_preset: null, decrease_temp: 75, rise_temp: 55, check_time: 300 } };
}

/** `GET /`: the web app's shell, which names the firmware in its title */
export function pageHtml(brand: string): string {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${brand}</title><link rel="icon" href="/favicon.ico"><script type="module" crossorigin src="/assets/index-5f1c2a.js"></script></head><body><div id="app"></div></body></html>`;
}

function macOf(host: string): string {
  const parts = host.split('.').map((x) => Number(x) & 0xff);
  return ['02', 'A5', ...parts.map((x) => x.toString(16).padStart(2, '0').toUpperCase())].join(':');
}
