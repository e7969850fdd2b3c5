/**
 * The stock web CGI's miner config (`/cgi-bin/get_miner_conf.cgi`, `/cgi-bin/set_miner_conf.cgi`)
 * and its work modes, as pure functions.
 *
 * Facts (pyasic: pyasic/config/mining/__init__.py `MiningModeConfig.from_am_modern` and the
 * `as_am_modern` of MiningModeNormal / MiningModeSleep / MiningModeLPM; pyasic/web/antminer.py;
 * pyasic/miners/backends/antminer.py `stop_mining` / `resume_mining`):
 *  - get_miner_conf returns the whole cgminer config: `pools` [{url, user, pass}], fan settings
 *    (`bitmain-fan-ctrl`, `bitmain-fan-pwm`), frequency and voltage keys, and the work mode as
 *    `bitmain-work-mode`, a string of digits: "0" normal, "1" sleep, "3" low power.
 *  - set_miner_conf takes the whole config back as a JSON body and reads the mode from
 *    `miner-mode`, a number (pyasic's `antminer_mining_mode_as_str` setting sends it as a string
 *    for firmware that wants that). It rewrites the config from what it is given, so a partial
 *    body loses what it leaves out (pools): always the whole config read last, mode changed.
 *  - It answers `{"stats":"success","code":"M000","msg":"OK!"}`, also to a body it then ignores,
 *    so a write is confirmed by reading the config back (AntminerMiner does, off the trip path).
 */
export enum WorkMode {
  Normal = 0,
  Sleep = 1,
  LowPower = 3,
}

/** the MinerSettings scale: 0 sleep, 1 low power, 2 normal */
export const SETTING_OF_MODE: Record<WorkMode, number> = { [WorkMode.Sleep]: 0, [WorkMode.LowPower]: 1, [WorkMode.Normal]: 2 };
export const MODE_OF_SETTING: readonly WorkMode[] = [WorkMode.Sleep, WorkMode.LowPower, WorkMode.Normal];

export type MinerConf = Record<string, unknown>;

/**
 * The work mode a config reports, or undefined if it names none this driver knows (an empty
 * string means normal, as pyasic reads it).
 */
export function modeOf(conf: MinerConf): WorkMode | undefined {
  const v = conf['bitmain-work-mode'] ?? conf['miner-mode'];
  if (v === undefined || v === '') return WorkMode.Normal;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : NaN;
  return n === WorkMode.Normal || n === WorkMode.Sleep || n === WorkMode.LowPower ? n : undefined;
}

/** a get_miner_conf body: a JSON object with a pools array, else throws with why */
export function parseConf(body: string): MinerConf {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    throw new Error(`get_miner_conf: not JSON: ${JSON.stringify(body.slice(0, 60))}`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('get_miner_conf: not a JSON object');
  const conf = v as MinerConf;
  if (!Array.isArray(conf.pools)) throw new Error('get_miner_conf: no pools array (not a stock Antminer config)');
  return conf;
}

/**
 * The set_miner_conf body: every key of `conf` kept as read (pools byte for byte as JSON values),
 * `miner-mode` set to `mode` (a number, or a string where the firmware wants that), and
 * `bitmain-work-mode` set to match so the body says one thing.
 */
export function confBody(conf: MinerConf, mode: WorkMode, modeAsString = false): string {
  return JSON.stringify({ ...conf, 'bitmain-work-mode': String(mode), 'miner-mode': modeAsString ? String(mode) : mode });
}

/** the config as it reads once `mode` is in force (what the driver holds after an accepted set) */
export function withMode(conf: MinerConf, mode: WorkMode): MinerConf {
  const next: MinerConf = { ...conf, 'bitmain-work-mode': String(mode) };
  delete next['miner-mode'];
  return next;
}

/** whether a set_miner_conf reply says the CGI took the config; else why not */
export function setAccepted(body: string): { ok: true } | { ok: false; why: string } {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    return { ok: false, why: `set_miner_conf: not JSON: ${JSON.stringify(body.slice(0, 60))}` };
  }
  const r = (v && typeof v === 'object' ? v : {}) as Record<string, unknown>;
  if (r.stats === 'success' || r.code === 'M000') return { ok: true };
  return { ok: false, why: `set_miner_conf refused: ${JSON.stringify(body.slice(0, 80))}` };
}
