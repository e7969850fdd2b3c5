import { sdm630 } from './sdm630';
import { sunspec203 } from './sunspec203';
import { sunspec213 } from './sunspec213';
import type { MeterMap } from './types';

export * from './types';

/** every direct-addressed model, by its `model` config value */
export const meterMaps: Record<string, MeterMap> = { sdm630 };

/** SunSpec meter models in order of preference (float before integer + scale factors) */
export const sunspecMaps: MeterMap[] = [sunspec213, sunspec203];
