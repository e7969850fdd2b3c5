import { modelName } from '../antminer/api';
import type { MinerEvidence, MinerIdentity } from '../identify';
import { parseVersion } from './api';

/**
 * Is this address running LuxOS (Luxor's firmware on Bitmain Antminer hardware)? As pyasic's
 * factory tells (pyasic/miners/factory.py):
 *  - 4028 `version` or `devdetails`: the text says LUXMINER (the program's name, in VERSION and in
 *    every STATUS Description), and none of the names pyasic matches before it: Braiins
 *    (BOSminer, BOSer) and MicroBT (btminer, bitmicro);
 *  - web: `GET /` whose page says "Luxor Firmware" (and not "Braiins OS", which pyasic matches first).
 * The model is VERSION[0].Type cut at " (" and without "Antminer " (the stock driver's naming), the
 * firmware "LuxOS <LUXminer version>". This family is asked before the stock Antminer's.
 */
const NAMED_FIRST = ['BOSMINER', 'BOSER', 'BTMINER', 'BITMICRO'];

/** a 4028 reply that names LUXminer and no family pyasic tells apart before it */
export function isLuxosReply(reply: Record<string, unknown>): boolean {
  const text = JSON.stringify(reply).toUpperCase();
  return text.includes('LUXMINER') && !NAMED_FIRST.some((n) => text.includes(n));
}

export function identify(e: MinerEvidence): MinerIdentity | undefined {
  const replies = [e.version, e.devdetails].filter((r): r is Record<string, unknown> => r !== undefined);
  if (replies.some((r) => NAMED_FIRST.some((n) => JSON.stringify(r).toUpperCase().includes(n)))) return undefined;
  if (replies.some(isLuxosReply)) return { make: 'Bitmain', ...modelAndFirmware(e.version), driver: 'luxos' };
  const body = e.web?.body ?? '';
  if (body.includes('Luxor Firmware') && !body.includes('Braiins OS')) return { make: 'Bitmain', model: 'Antminer', firmware: 'LuxOS', driver: 'luxos' };
  return undefined;
}

export function modelAndFirmware(version: Record<string, unknown> | undefined): { model: string; firmware: string } {
  try {
    const v = parseVersion(version ?? {});
    return { model: modelName(v.type) || 'Antminer', firmware: v.firmware ? `LuxOS ${v.firmware}` : 'LuxOS' };
  } catch {
    return { model: 'Antminer', firmware: 'LuxOS' };
  }
}

export type { MinerEvidence, MinerIdentity };
