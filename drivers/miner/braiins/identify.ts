import type { MinerEvidence, MinerIdentity } from '../identify';

/**
 * Is this address running Braiins OS (BOS+ or the older BOSminer)? As pyasic's factory
 * (pyasic/miners/factory.py) tells: it checks the Braiins names before every other family's.
 *  - 4028 `version` or `devdetails`: the text names BOSminer or BOSer (BOS+ answers the
 *    cgminer-style API too: `"Msg":"BOSer versions"`, `VERSION[0].BOSer` "boser-buildroot …";
 *    the older firmware `VERSION[0]["BOSminer+"]`);
 *  - web: `GET /` whose page says "Braiins OS" (unless it is the stock Antminer's 401 with the
 *    `antMiner` Digest realm, which pyasic matches first);
 *  - the model: DEVDETAILS[0].Model without "Bitmain " (pyasic get_miner_model_braiins_os), e.g.
 *    "Bitmain Antminer S19j Pro" → "Antminer S19j Pro".
 * A 4028 reply that names another family, and none of the Braiins names, is not ours whatever the
 * web page says. The same words decide in the driver (driver.ts), which refuses a host that
 * answers as another family.
 */
export const BRAIINS_WORDS = ['BOSMINER', 'BOSER'];
/** names of the other families in a 4028 reply (pyasic's _parse_socket_type); a stock Antminer's `version` says ANTMINER */
export const OTHER_FAMILIES = ['BTMINER', 'BITMICRO', 'LUXMINER', 'HIVEON', 'KAONSU', 'RWGLR', 'VNISH', 'AVALON', 'INNOMINER', 'INTCHAINS_QOMO'];
const PAGE = 'Braiins OS';

type Reply = Record<string, unknown>;

const upper = (r: Reply | undefined): string => (r ? JSON.stringify(r).toUpperCase() : '');

/** what a 4028 `version` reply says of the firmware: 'braiins', another family's name, or undefined */
export function versionSays(version: Reply | undefined): 'braiins' | string | undefined {
  const text = upper(version);
  if (BRAIINS_WORDS.some((w) => text.includes(w))) return 'braiins';
  return OTHER_FAMILIES.find((o) => text.includes(o)) ?? (text.includes('ANTMINER') ? 'ANTMINER' : undefined);
}

export function identify(e: MinerEvidence): MinerIdentity | undefined {
  const replies = [e.version, e.devdetails].filter((r): r is Reply => r !== undefined);
  if (replies.some((r) => BRAIINS_WORDS.some((w) => upper(r).includes(w)))) {
    const model = modelOf(e.devdetails);
    return { make: makeOf(model), model: model ?? 'unknown', firmware: firmwareOf(e.version), driver: 'braiins' };
  }
  if (versionSays(e.version) !== undefined) return undefined;
  if (e.devdetails && OTHER_FAMILIES.some((o) => upper(e.devdetails).includes(o))) return undefined;
  const web = e.web;
  if (!web || !web.body.includes(PAGE)) return undefined;
  const realm = Object.entries(web.headers).find(([k]) => k.toLowerCase() === 'www-authenticate')?.[1] ?? '';
  if (web.status === 401 && /realm="antMiner/.test(realm)) return undefined;
  return { make: 'unknown', model: 'unknown', firmware: 'Braiins OS', driver: 'braiins' };
}

/** DEVDETAILS[0].Model without the maker's name: "Bitmain Antminer S19j Pro" → "Antminer S19j Pro" */
export function modelOf(devdetails: Reply | undefined): string | undefined {
  const rows = devdetails?.DEVDETAILS;
  const raw = Array.isArray(rows) ? (rows[0] as Reply | undefined)?.Model : undefined;
  if (typeof raw !== 'string' || !raw.trim()) return undefined;
  return raw.replace(/^\s*Bitmain\s+/i, '').replace(/S19XP/i, 'S19 XP').trim();
}

/** the hardware's maker, from the model BOS reports (it runs on Antminers and some Whatsminers) */
export function makeOf(model: string | undefined): string {
  if (!model) return 'unknown';
  if (/^antminer/i.test(model)) return 'Bitmain';
  if (/^(whatsminer|M\d)/i.test(model)) return 'MicroBT';
  return 'unknown';
}

/** "Braiins OS+ boser-buildroot 0.1.0-0ce150e9" from VERSION[0].BOSer; the older BOSminer's field likewise */
export function firmwareOf(version: Reply | undefined): string {
  const rows = version?.VERSION;
  const row = Array.isArray(rows) && rows[0] && typeof rows[0] === 'object' ? (rows[0] as Reply) : {};
  for (const [field, name] of [['BOSer', 'Braiins OS+'], ['BOSminer+', 'Braiins OS+ BOSminer+'], ['BOSminer', 'Braiins OS BOSminer']] as const) {
    const v = row[field];
    if (typeof v === 'string' && v.trim()) return `${name} ${v.trim()}`;
  }
  return 'Braiins OS';
}

export type { MinerEvidence, MinerIdentity };
