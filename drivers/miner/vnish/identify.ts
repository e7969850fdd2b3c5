import type { MinerEvidence, MinerIdentity } from '../identify';

/**
 * Is this address an Antminer on VNish firmware? The way pyasic's factory (pyasic/miners/factory.py)
 * tells it apart, asked before the stock families (drivers/miner/index.ts), so its rules claim
 * VNish's words alone:
 *  - 4028 (its cgminer-compatible API, a bmminer fork): `version` or `devdetails` text says VNISH
 *    (the VERSION and STATS Type read "Antminer S19 (Vnish 1.2.6)"), and none of the other
 *    firmware's names that pyasic checks first (Braiins, MicroBT, LuxOS, Hiveon, Marathon);
 *  - web: `GET /` is its web app, whose page names AnthillOS (VNish's brand from 1.2.7 on, which
 *    pyasic matches) or Vnish; never a 401 Digest challenge (that is stock Antminer's lighttpd).
 * Make is Bitmain (VNish runs on Antminer hardware); the model is the Type before " (";
 * the firmware "VNish 1.2.6" from inside the parentheses.
 */
const OTHERS = ['BOSMINER', 'BOSER', 'BTMINER', 'BITMICRO', 'LUXMINER', 'HIVEON', 'KAONSU'];
/** pages of other firmware that a VNish word could appear beside (a link, a comparison) */
const OTHER_PAGES = ['Braiins OS', 'Luxor Firmware'];

export function identify(e: MinerEvidence): MinerIdentity | undefined {
  const replies = [e.version, e.devdetails].filter((r): r is Record<string, unknown> => r !== undefined);
  const texts = replies.map((r) => JSON.stringify(r).toUpperCase());
  if (texts.some((t) => OTHERS.some((o) => t.includes(o)))) return undefined;
  if (texts.some((t) => t.includes('VNISH'))) {
    const type = typeOf(e.version) ?? typeOf(e.devdetails) ?? '';
    return { make: 'Bitmain', model: modelOf(type), firmware: firmwareOf(type), driver: 'vnish' };
  }
  const web = e.web;
  if (web && web.status !== 401 && !OTHER_PAGES.some((p) => web.body.includes(p)) && /AnthillOS|\bVnish\b/i.test(web.body)) {
    return { make: 'Bitmain', model: 'Antminer', firmware: /AnthillOS/i.test(web.body) ? 'AnthillOS' : 'VNish', driver: 'vnish' };
  }
  return undefined;
}

/** the first Type (or Model) field of a cgminer-style reply's first block */
function typeOf(reply: Record<string, unknown> | undefined): string | undefined {
  for (const key of ['VERSION', 'DEVDETAILS', 'STATS']) {
    const rows = reply?.[key];
    const row = Array.isArray(rows) && rows[0] && typeof rows[0] === 'object' ? (rows[0] as Record<string, unknown>) : undefined;
    const t = row?.Type ?? row?.Model;
    if (typeof t === 'string' && t.trim()) return t.trim();
  }
  return undefined;
}

/** "Antminer S19 (Vnish 1.2.6)" -> "S19" */
export function modelOf(type: string): string {
  return type.split(' (')[0].replace(/^\s*antminer\s*/i, '').trim() || 'Antminer';
}

/** "Antminer S19 (Vnish 1.2.6)" -> "VNish 1.2.6" */
export function firmwareOf(type: string): string {
  const v = /\(\s*vnish\s+([^)]+)\)/i.exec(type)?.[1]?.trim();
  return v ? `VNish ${v}` : 'VNish';
}

export type { MinerEvidence, MinerIdentity };
