import { z } from 'zod';
import { MODELS, type ChipModel } from './models';
import { DEFAULTS, type HashboardOptions } from './options';
import type { SerialSpec } from '../transport';

/**
 * Optional per-board tuning keys for the `boards[]` config entries (snake_case, units in the
 * name). Merge into the agent's board schema: `board.extend(hashboardTuning)`, then check the
 * model-dependent limits with `hashboardRangeProblems` and map with `hashboardOptionsFrom`.
 * Every key may be left out; defaults are in options.ts (ESP-Miner's where it has one).
 */
export const hashboardTuning = {
  min_mhz: z.number().min(50).max(625).optional(),
  max_mhz: z.number().min(50).max(625).optional(),
  ramp_step_mhz: z.number().min(1).max(100).optional(),
  ramp_step_ms: z.number().int().min(10).max(10_000).optional(),
  timeout_ms: z.number().int().min(20).max(5000).optional(),
  poll_ms: z.number().int().min(100).max(60_000).optional(),
  job_interval_ms: z.number().int().min(100).max(60_000).optional(),
  difficulty: z.number().int().min(1).max(65_536)
    .refine((d) => (d & (d - 1)) === 0, { message: 'must be a power of two' }).optional(),
  fault_after: z.number().int().min(1).max(100).optional(),
  retry_ms: z.number().int().min(100).max(60_000).optional(),
  power_on_ms: z.number().int().min(0).max(10_000).optional(),
};

export type HashboardTuning = { [K in keyof typeof hashboardTuning]?: z.infer<(typeof hashboardTuning)[K]> };

/** limits that depend on the chip model: `[keyPath, message]` pairs, empty when fine */
export function hashboardRangeProblems(b: { model: ChipModel } & HashboardTuning): Array<[string, string]> {
  const spec = MODELS[b.model];
  const out: Array<[string, string]> = [];
  const min = b.min_mhz ?? spec.minMhz;
  const max = b.max_mhz ?? spec.defaultMhz;
  if (min < spec.minMhz) out.push(['min_mhz', `${b.model} runs no lower than ${spec.minMhz} MHz`]);
  if (max > spec.maxOptionMhz) out.push(['max_mhz', `${b.model} runs no higher than ${spec.maxOptionMhz} MHz`]);
  if (min > max) out.push(['min_mhz', `must not exceed max_mhz (${max})`]);
  return out;
}

export function hashboardOptionsFrom(
  b: { id: string; model: ChipModel; serial: SerialSpec; chips: number } & HashboardTuning,
  extra: Pick<HashboardOptions, 'power' | 'temperature' | 'open'> = {},
): HashboardOptions {
  return {
    id: b.id, model: b.model, serial: b.serial, chips: b.chips,
    minMhz: b.min_mhz, maxMhz: b.max_mhz,
    rampStepMhz: b.ramp_step_mhz ?? DEFAULTS.rampStepMhz,
    rampStepMs: b.ramp_step_ms ?? DEFAULTS.rampStepMs,
    timeoutMs: b.timeout_ms, pollMs: b.poll_ms, jobIntervalMs: b.job_interval_ms,
    difficulty: b.difficulty, faultAfter: b.fault_after, retryMs: b.retry_ms, powerOnMs: b.power_on_ms,
    ...extra,
  };
}
