import type { Scenario } from './types';

/** Deterministic small noise: the same scenario gives the same run. */
function noise(t: number, seed = 1): number {
  const x = Math.sin(t * 12.9898 + seed * 78.233) * 43758.5453;
  return x - Math.floor(x) - 0.5;
}

/**
 * demo: ten minutes of a small wind-and-solar site, looping. Generation swings between about
 * 1 and 8 kW against a 1 kW base load (four boards draw up to about 5 kW); at 1:00 the grid frequency dips through 59.7 Hz for
 * 3 s (an under-frequency trip), and at 4:00 the grid operator's relay contact closes for 10 s.
 */
export const demo: Scenario = {
  name: 'demo',
  description: 'ten looping minutes of varying surplus with one under-frequency dip and one relay trip',
  durationS: 600,
  at(t) {
    const s = t % 600;
    const dip = s >= 60 && s < 63;
    const hz = dip ? 59.6 + 0.02 * noise(s) : 60 + 0.02 * Math.sin(s / 7) + 0.005 * noise(s);
    const generationKw = 4.5 + 2.5 * Math.sin((2 * Math.PI * s) / 300) + 0.6 * Math.sin(s / 11) + 0.3 * noise(s, 2);
    return { hz, generationKw: Math.max(0, generationKw), baseLoadKw: 1 + 0.1 * noise(s, 3), relay: s >= 240 && s < 250 };
  },
};

export const builtinScenarios: Record<string, Scenario> = { demo };
