import type { MinerEvidence, MinerIdentity } from '../identify';
/**
 * Is this address a Canaan Avalon? The way pyasic's factory (pyasic/miners/factory.py) tells the
 * families apart:
 *  - 4028 `version` or `devdetails`: the text says AVALON, and none of the names pyasic checks
 *    before it (Braiins BOSminer/BOSer, MicroBT btminer/bitmicro, LUXminer, Hiveon, Marathon's
 *    kaonsu, MSKminer's rwglr, Antminer, Goldshell's miners, Innosilicon's innominer);
 *  - web: `GET /` whose page says "Avalon" (and is none of the pages pyasic matches first);
 *  - the model: VERSION[0].PROD up to a "-" (`AvalonMiner 1246-83` → AvalonMiner 1246); where PROD
 *    is generic (AvalonNano, Avalon0O, AvalonMiner 15) it is `AvalonMiner <MODEL>`. Home miners
 *    name themselves in PROD (`Avalon Q`, `Avalon Nano3s`).
 *  - the firmware: VERSION[0].VERSION (A10 manual §2.1), else LVERSION / CGVERSION (newer firmware).
 */

/** names pyasic's _parse_socket_type matches before AVALON: a reply with one of them is not ours */
export const NOT_AVALON = ['BOSMINER', 'BOSER', 'BTMINER', 'BITMICRO', 'LUXMINER', 'HIVEON', 'KAONSU', 'RWGLR', 'ANTMINER', 'INTCHAINS_QOMO', 'KDAMINER', 'BFGMINER', 'INNOMINER', 'VNISH'];
/** pages pyasic's _parse_web_type matches before "Avalon" */
const OTHER_PAGES = ['Braiins OS', 'Luxor Firmware', 'AxeOS', 'Lucky miner', 'cloud-box', 'AnthillOS', 'Miner Web Dashboard'];
const GENERIC_PROD = ['AVALONNANO', 'AVALON0O', 'AVALONMINER 15'];

export function identify(e: MinerEvidence): MinerIdentity | undefined {
  const replies = [e.version, e.devdetails].filter((r): r is Record<string, unknown> => r !== undefined);
  for (const r of replies) {
    const text = JSON.stringify(r).toUpperCase();
    if (NOT_AVALON.some((n) => text.includes(n))) return undefined;
  }
  if (replies.some((r) => JSON.stringify(r).toUpperCase().includes('AVALON'))) {
    const v = versionRow(e.version);
    return { make: 'Canaan', model: modelOf(v) ?? 'Avalon', firmware: firmwareOf(v), driver: 'avalon' };
  }
  const web = e.web;
  if (web && !OTHER_PAGES.some((p) => web.body.includes(p)) && web.body.includes('Avalon')) {
    return { make: 'Canaan', model: 'Avalon', firmware: 'stock', driver: 'avalon' };
  }
  return undefined;
}

export function versionRow(v: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  const rows = v?.VERSION;
  return Array.isArray(rows) && rows[0] && typeof rows[0] === 'object' ? (rows[0] as Record<string, unknown>) : undefined;
}

export function modelOf(row: Record<string, unknown> | undefined): string | undefined {
  const prod = typeof row?.PROD === 'string' ? row.PROD.trim() : '';
  const model = typeof row?.MODEL === 'string' ? row.MODEL.trim() : '';
  if (!prod) return model ? `AvalonMiner ${model}` : undefined;
  const base = prod.split('-')[0].trim();
  if (GENERIC_PROD.includes(base.toUpperCase()) && model) return `AvalonMiner ${model}`;
  return base;
}

export function firmwareOf(row: Record<string, unknown> | undefined): string {
  const fw = [row?.VERSION, row?.LVERSION, row?.CGVERSION].find((x): x is string => typeof x === 'string' && x.trim() !== '');
  return fw ? `stock ${fw.trim()}` : 'stock';
}

export type { MinerEvidence, MinerIdentity };
