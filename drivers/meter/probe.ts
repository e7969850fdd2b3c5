import { realClock } from '../../agent/clock';
import type { MeterSample } from '../../agent/hardware';
import { BusRegistry } from './bus';
import type { MeterError } from './errors';
import { createMeterOn } from './create';
import type { MeterOptions } from './options';

export interface MeterProbe {
  ok: boolean;
  /** the first sample, when one came */
  sample?: MeterSample;
  /** request -> first sample (ms) */
  ms: number;
  /** the faults seen before giving up (kind: message) */
  faults: string[];
}

/**
 * Commissioning check (`hashflex doctor`): open the meter's own connection, wait for one sample
 * or `timeoutMs`, close. Never throws for a device problem; the faults say what went wrong.
 */
export async function probeMeter(opts: MeterOptions, timeoutMs = 3000): Promise<MeterProbe> {
  const meter = createMeterOn(opts, realClock, new BusRegistry());
  const faults: string[] = [];
  const t0 = performance.now();
  meter.on('fault', (e: MeterError) => { if (faults.length < 5) faults.push(`${e.kind}: ${e.message}`); });
  try {
    await meter.start();
    const sample = await new Promise<MeterSample | undefined>((resolve) => {
      const t = setTimeout(() => resolve(undefined), timeoutMs);
      meter.once('sample', (s: MeterSample) => { clearTimeout(t); resolve(s); });
    });
    return { ok: sample !== undefined, sample, ms: Math.round((performance.now() - t0) * 10) / 10, faults };
  } finally {
    await meter.stop();
  }
}
