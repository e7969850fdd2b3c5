import type { MinerEvidence, MinerIdentity } from '../identify';
/**
 * Telling a Whatsminer apart, and which of its APIs to drive, the way pyasic does
 * (pyasic/miners/factory.py and pyasic/miners/backends/btminer.py):
 *  - the 4028 `version` or `devdetails` reply mentions BTMINER (the btminer program) or
 *    BITMICRO (the devdetails driver) and none of the aftermarket firmware names;
 *  - the web server on 80 answers `GET /` with a 307 to https whose page is LuCI (`/cgi-bin/luci`);
 *  - the model is DEVDETAILS[0].Model without underscores and with the last character made 0
 *    (M30S++_VH41 -> M30S++VH40: the last digit is a minor board revision);
 *  - firmware dated after 2024-11-00 (`fw_ver` starts with YYYYMMDD) speaks API v3 on 4433;
 *    older firmware API v2 on 4028.
 */

const MAKE = 'MicroBT';
/** aftermarket firmware that runs on these machines or answers with similar words: not ours */
const OTHERS = ['BOSMINER', 'BOSER', 'LUXMINER', 'VNISH', 'HIVEON'];

export function identify(evidence: MinerEvidence): MinerIdentity | undefined {
  const text = `${evidence.version ? JSON.stringify(evidence.version) : ''} ${evidence.devdetails ? JSON.stringify(evidence.devdetails) : ''}`.toUpperCase();
  const byApi = (text.includes('BTMINER') || text.includes('BITMICRO')) && !OTHERS.some((o) => text.includes(o));
  if (byApi) {
    return { make: MAKE, model: modelOf(evidence) ?? 'unknown', firmware: firmwareOf(evidence.version) ?? 'unknown', driver: 'whatsminer' };
  }
  if (evidence.web && webIsWhatsminer(evidence.web)) return { make: MAKE, model: 'unknown', firmware: 'unknown', driver: 'whatsminer' };
  return undefined;
}

function webIsWhatsminer(web: NonNullable<MinerEvidence['web']>): boolean {
  const location = Object.entries(web.headers).find(([k]) => k.toLowerCase() === 'location')?.[1] ?? '';
  return web.status === 307 && location.startsWith('https://') && `${location} ${web.body}`.includes('/cgi-bin/luci');
}

/** pyasic's normalisation of the devdetails model */
export function normaliseModel(raw: string): string {
  const m = raw.replace(/_/g, '').trim().toUpperCase();
  return m.length > 1 && /\d$/.test(m) ? `${m.slice(0, -1)}0` : m;
}

function modelOf(e: MinerEvidence): string | undefined {
  const rows = e.devdetails?.DEVDETAILS;
  const raw = Array.isArray(rows) ? (rows[0] as Record<string, unknown> | undefined)?.Model : undefined;
  if (typeof raw === 'string' && raw.trim()) return normaliseModel(raw);
  const v = versionRow(e.version);
  const t = v?.Type ?? v?.Model;
  return typeof t === 'string' && t.trim() ? normaliseModel(t) : undefined;
}

function versionRow(v: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  const rows = v?.VERSION;
  return Array.isArray(rows) && rows[0] && typeof rows[0] === 'object' ? (rows[0] as Record<string, unknown>) : undefined;
}

/** fw_ver from a get_version-shaped reply, or the firmware field of a cgminer-style VERSION row */
function firmwareOf(v: Record<string, unknown> | undefined): string | undefined {
  const msg = v?.Msg as Record<string, unknown> | undefined;
  const row = versionRow(v);
  const fw = msg?.fw_ver ?? row?.['Firmware Version'] ?? row?.FW ?? row?.BTMiner;
  return typeof fw === 'string' && fw.trim() ? cleanFirmware(fw) : undefined;
}

/** the firmware quotes its version in some replies ("'20230314.15.Rel'") */
export function cleanFirmware(fw: string): string {
  return fw.replace(/'/g, '').trim();
}

/** API v3 for firmware dated after 2024-11-00, v2 otherwise and for anything unparseable (pyasic BTMiner.__new__). */
export function apiForFirmware(fw: string | undefined): 'v2' | 'v3' {
  const m = /^(\d{4})(\d{2})(\d{2})/.exec(cleanFirmware(fw ?? ''));
  if (!m) return 'v2';
  return Number(`${m[1]}${m[2]}${m[3]}`) > 20241100 ? 'v3' : 'v2';
}

export type { MinerEvidence, MinerIdentity };
