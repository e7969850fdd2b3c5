import { z } from 'zod';

/**
 * The `ledger:` config section, for agent/config.ts to plug in as `ledger: ledgerSchema`.
 *   enabled      default true: keep the surplus ledger in storage.dir
 *   interval_s   record length in seconds, 10..3600, default 60 (the 1 minute;
 *                records end on multiples of it since the epoch, UTC)
 *   hold_ms      longest a meter power reading is held when integrating, 100..600 000,
 *                default 5000 (5 s: well past meter.stale_ms, so a stale meter shows up as
 *                unmeasured time instead of guessed energy)
 *   meter_id     the grid meter's identity as recorded (default: model@address/unit); set it
 *                to the meter's serial number so a swap is recorded as a replacement
 */
export const ledgerSchema = z.object({
  enabled: z.boolean().default(true),
  interval_s: z.number().int().min(10).max(3600).default(60),
  hold_ms: z.number().int().min(100).max(600_000).default(5000),
  meter_id: z.string().min(1).max(200).optional(),
}).strict().default({});

export type LedgerConfig = z.output<typeof ledgerSchema>;

/** the default meter identity: what is configured to answer as the grid meter */
export function meterIdentity(m: { model: string; unit: number; tcp?: string; serial?: { path: string } | { tcp: string } }): string {
  const where = m.tcp ?? (m.serial ? ('path' in m.serial ? m.serial.path : m.serial.tcp) : '?');
  return `${m.model}@${where}/${m.unit}`;
}
