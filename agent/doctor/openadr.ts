import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import { realClock } from '../clock';
import { logger } from '../log';
import { toOpenAdrSettings } from '../grid/openadr/settings';
import { timer, type CheckResult, type DoctorContext } from './types';

/**
 * The VTN, as the VEN will meet it: its token (OAuth2 client credentials), the VEN object (found
 * by ven_name; the doctor never creates it) and the programs readable. The VEN's own check()
 * (agent/grid/openadr/ven.ts) does the asking, with a scratch data directory so the doctor
 * leaves the agent's stored events alone; it obeys nothing. No line when the config has no
 * openadr section.
 */
export async function checkOpenAdr(ctx: DoctorContext): Promise<CheckResult[]> {
  const o = ctx.config.openadr;
  if (!o) return [];
  const r = timer('openadr');
  const { Ven } = require('../grid/openadr/ven') as typeof import('../grid/openadr/ven');
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'hashflex-doctor-openadr-'));
  const ven = new Ven(toOpenAdrSettings(o), {
    clock: realClock, log: logger('doctor-openadr'), dataDir: scratch, maxKw: ctx.config.control.max_kw,
    read: () => ({ at: Date.now(), gridKw: Number.NaN, minersKw: 0, targetKw: 0, state: 'running', mode: ctx.config.control.mode }),
    onDirective: () => {},
  });
  try {
    const results = await ven.check();
    return results.length ? results : [r.fail(`${o.vtn_url}: the VEN's check gave no result`, 'a bug in the agent: report it with this output')];
  } finally {
    await ven.stop().catch(() => {});
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}
