import { modelName } from './api';
import type { MinerEvidence, MinerIdentity } from '../identify';

/**
 * Is this address a stock Antminer? The way pyasic's factory (pyasic/miners/factory.py) tells
 * the families apart:
 *  - web: `GET /` answers 401 with `WWW-Authenticate: Digest realm="antMiner Configuration"`
 *    (pyasic matches `realm="antMiner`). Hiveon and Marathon firmware copy that page, so the
 *    4028 reply decides where there is one.
 *  - 4028 `version` (or its text): "ANTMINER" with none of the aftermarket firmware's names
 *    (BOSminer/BOSer, LUXminer, VNish, Hiveon, Marathon's kaonsu, MSKminer's rwglr) nor
 *    MicroBT's (btminer / bitmicro). A `devdetails` reply alone does not count: aftermarket
 *    firmware names the Antminer model there too (pyasic skips replies with "DEVDETAILS").
 * The model is VERSION[0].Type without "Antminer " and without a " (…)" suffix.
 */

/** names in a 4028 reply that mean another firmware on Bitmain hardware, or another maker */
const OTHERS = ['BOSMINER', 'BOSER', 'LUXMINER', 'VNISH', 'HIVEON', 'KAONSU', 'RWGLR', 'BTMINER', 'BITMICRO', 'AVALON'];
/** texts of aftermarket firmware's web pages (pyasic's _parse_web_type) */
const OTHER_PAGES = ['Braiins OS', 'Luxor Firmware', 'AnthillOS'];

export function identify(e: MinerEvidence): MinerIdentity | undefined {
  const web = e.web;
  const realm = web ? headerOf(web.headers, 'www-authenticate') : '';
  const webSays = !!web && web.status === 401 && /realm="antMiner/.test(realm);
  if (web && OTHER_PAGES.some((p) => web.body.includes(p))) return undefined;

  if (e.version) {
    const text = JSON.stringify(e.version).toUpperCase();
    if (OTHERS.some((o) => text.includes(o))) return undefined;
    if (text.includes('ANTMINER')) {
      const v = versionBlock(e.version);
      const type = typeof v?.Type === 'string' ? v.Type : '';
      const build = typeof v?.CompileTime === 'string' ? v.CompileTime.trim() : '';
      return { make: 'Bitmain', model: modelName(type) || 'Antminer', firmware: build ? `stock ${build}` : 'stock', driver: 'antminer' };
    }
    // a 4028 that names nothing we know: only the web page can still say Antminer
  }
  if (e.devdetails && OTHERS.some((o) => JSON.stringify(e.devdetails).toUpperCase().includes(o))) return undefined;
  if (webSays) return { make: 'Bitmain', model: 'Antminer', firmware: 'stock', driver: 'antminer' };
  return undefined;
}

function versionBlock(v: Record<string, unknown>): Record<string, unknown> | undefined {
  const a = v.VERSION;
  return Array.isArray(a) && a[0] && typeof a[0] === 'object' ? (a[0] as Record<string, unknown>) : undefined;
}

function headerOf(headers: Record<string, string>, name: string): string {
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name) return String(v);
  return '';
}

export type { MinerEvidence, MinerIdentity };
