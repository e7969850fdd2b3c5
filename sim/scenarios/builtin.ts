import { parseCommand, parseExpectation, parseFault } from './cells';
import type { Scenario, ScenarioVtnEvent } from './types';

/** Deterministic small noise in [-0.5, 0.5): the same scenario gives the same run. */
function noise(t: number, seed = 1): number {
  const x = Math.sin(t * 12.9898 + seed * 78.233) * 43758.5453;
  return x - Math.floor(x) - 0.5;
}

/** Smooth deterministic noise: a sum of incommensurate sines, roughly in [-1, 1]. */
function smooth(t: number, periodS: number, seed = 1): number {
  const w = (2 * Math.PI) / periodS;
  return (Math.sin(w * t + seed) + 0.6 * Math.sin(2.71 * w * t + 2 * seed) + 0.3 * Math.sin(7.39 * w * t + 3 * seed)) / 1.9;
}

/** Grid frequency with small normal wander around nominal. */
function normalHz(t: number, nominal = 60, seed = 1): number {
  return nominal + 0.015 * smooth(t, 90, 4 + k(seed)) + 0.004 * noise(t, 5 + k(seed));
}

/** seed 1 is the scenarios' reference run; other seeds shift every noise source */
function k(seed: number): number {
  return 100 * (seed - 1);
}

const expect = (...lines: string[]) => lines.map(parseExpectation);


/**
 * demo: ten minutes of a small wind-and-solar site, looping. Generation swings between about
 * 1 and 8 kW against a 1 kW base load (four boards draw up to about 5 kW); at 1:00 the grid
 * frequency dips through 59.7 Hz for 3 s (an under-frequency trip), and at 4:00 the grid
 * operator's relay contact closes for 10 s.
 */
/**
 * The under-frequency scenarios' meter refreshes at 20 Hz: a 5 Hz meter alone adds up to 200 ms
 * to a trip, and a site enrolled for under-frequency trips (ERCOT: within 250 ms of 59.7 Hz)
 * measures frequency that fast.
 */
const FAST_METER_HZ = 20;

export function demoScenario(seed = 1): Scenario {
  const s0 = k(seed);
  return {
    name: 'demo',
    site: { meterHz: FAST_METER_HZ },
    description: 'ten looping minutes of varying surplus with one under-frequency dip and one relay trip',
    durationS: 600,
    seed,
    expect: expect('trip within 250 ms of 59.7 Hz', 'trip within 50 ms of relay', 'miner import <= 2 %'),
    at(t) {
      const s = t % 600;
      const dip = s >= 60 && s < 63;
      const hz = dip ? 59.6 + 0.02 * noise(s, 1 + s0) : 60 + 0.02 * Math.sin(s / 7) + 0.005 * noise(s, 1 + s0);
      const generationKw = 4.5 + 2.5 * Math.sin((2 * Math.PI * s) / 300) + 0.6 * Math.sin(s / 11) + 0.3 * noise(s, 2 + s0);
      return { hz, generationKw: Math.max(0, generationKw), baseLoadKw: 1 + 0.1 * noise(s, 3 + s0), relay: s >= 240 && s < 250 };
    },
  };
}

/**
 * ercot-ufr: an under-frequency event as ERCOT load resources see it. Frequency falls from 60 Hz
 * through 59.7 Hz (the load-resource relay setting) to 59.55 Hz over 4 s at 30 s, holds 20 s,
 * recovers to 59.9 Hz over 30 s and to 60 Hz by 2:00. Steady surplus throughout.
 * ERCOT Nodal Operating Guides §2.3.1: load resources on under-frequency relays trip at 59.7 Hz.
 */
export function ercotUfrScenario(seed = 1): Scenario {
  return {
    name: 'ercot-ufr',
    site: { meterHz: FAST_METER_HZ },
    description: 'frequency falls through 59.7 Hz to 59.55 Hz and recovers (load-resource relay trip)',
    durationS: 300,
    seed,
    expect: expect('trip within 250 ms of 59.7 Hz', 'trip from underfrequency', 'state running at 240 s'),
    at(t) {
      let hz = normalHz(t, 60, seed);
      if (t >= 30 && t < 34) hz = 60 - (0.45 * (t - 30)) / 4;
      else if (t >= 34 && t < 54) hz = 59.55 + 0.01 * noise(t, 1 + k(seed));
      else if (t >= 54 && t < 84) hz = 59.55 + (0.35 * (t - 54)) / 30;
      else if (t >= 84 && t < 120) hz = 59.9 + (0.1 * (t - 84)) / 36;
      return { hz, generationKw: 6, baseLoadKw: 1, relay: false };
    },
  };
}

/**
 * ercot-ffr: a Fast Frequency Response event: frequency sags to 59.85 Hz (ERCOT's FFR deployment
 * threshold) for 15 s at 30 s. Above the 59.7 Hz relay setting: a correctly set site rides through.
 */
export function ercotFfrScenario(seed = 1): Scenario {
  return {
    name: 'ercot-ffr',
    site: { meterHz: FAST_METER_HZ },
    description: 'a 59.85 Hz sag (FFR threshold, above the 59.7 Hz trip): the site rides through',
    durationS: 120,
    seed,
    expect: expect('no trip', 'miner import <= 1 %'),
    at(t) {
      let hz = normalHz(t, 60, seed);
      if (t >= 30 && t < 32) hz = 60 - (0.15 * (t - 30)) / 2;
      else if (t >= 32 && t < 47) hz = 59.85 + 0.005 * noise(t, 1 + k(seed));
      else if (t >= 47 && t < 60) hz = 59.85 + (0.15 * (t - 47)) / 13;
      return { hz, generationKw: 6, baseLoadKw: 1, relay: false };
    },
  };
}

/**
 * wind-surplus-24h: a day of a 10 kW wind turbine against a site load of about 1–2.5 kW. Wind
 * speed wanders on 20-minute to 6-hour scales with gusts; power follows a turbine curve (cut-in
 * 3 m/s, rated 12 m/s, cut-out 25 m/s). The site load has a morning and an evening peak.
 */
export function windSurplus24hScenario(seed = 1): Scenario {
  const s0 = k(seed);
  return {
    name: 'wind-surplus-24h',
    description: 'a day of wind generation (10 kW turbine) against a daily site load',
    durationS: 86_400,
    seed,
    // gusty, often below one board's minimum draw, and surplus mode keeps margin_kw in hand: about 90 % at seed 1
    expect: expect('surplus used >= 85 %', 'miner import <= 1 %', 'no trip'),
    at(t) {
      const wind = Math.max(0, 8 + 4 * smooth(t, 6 * 3600, 1 + s0) + 2.5 * smooth(t, 1200, 2 + s0) + 1.2 * smooth(t, 97, 3 + s0));
      const hours = (t / 3600) % 24;
      const load = 1 + 0.8 * Math.exp(-(((hours - 8) / 1.5) ** 2)) + 1.5 * Math.exp(-(((hours - 19) / 2) ** 2)) + 0.05 * noise(t, 7 + s0);
      return { hz: normalHz(t, 60, seed), generationKw: turbineKw(wind, 10), baseLoadKw: load, relay: false };
    },
  };
}

/** Turbine power curve: cubic between cut-in and rated speed. */
function turbineKw(windMs: number, ratedKw: number): number {
  const cutIn = 3, rated = 12, cutOut = 25;
  if (windMs < cutIn || windMs >= cutOut) return 0;
  if (windMs >= rated) return ratedKw;
  return ratedKw * ((windMs ** 3 - cutIn ** 3) / (rated ** 3 - cutIn ** 3));
}

/**
 * nuclear-weekend: 48 h of a mild weekend on a nuclear-heavy grid (as France's): a long flat
 * surplus made available to the site (6 kW, in practice a contracted import window delivered as
 * local surplus) with an evening ramp-down each day from 18:00 to 21:00 and back up after 23:00.
 */
export function nuclearWeekendScenario(seed = 1): Scenario {
  return {
    name: 'nuclear-weekend',
    description: '48 h of flat surplus with evening ramps, as on a nuclear-heavy grid at the weekend',
    durationS: 172_800,
    nominalHz: 50,
    seed,
    expect: expect('surplus used >= 95 %', 'miner import <= 1 %', 'no trip'),
    at(t) {
      const h = (t / 3600) % 24;
      let share = 1;
      if (h >= 18 && h < 21) share = 1 - (h - 18) / 3;
      else if (h >= 21 && h < 23) share = 0;
      else if (h >= 23) share = h - 23;
      return { hz: normalHz(t, 50, seed), generationKw: 1 + 6 * share + 0.1 * noise(t, 9 + k(seed)), baseLoadKw: 1, relay: false };
    },
  };
}

/** A steady 5 kW surplus with a little wander: the backdrop of the command and fault scenarios. */
function steady(t: number, seed: number) {
  return { hz: normalHz(t, 60, seed), generationKw: 6 + 0.2 * smooth(t, 45, 6 + k(seed)), baseLoadKw: 1 + 0.05 * noise(t, 8 + k(seed)), relay: false };
}

/**
 * dispatch: ten minutes of site-controller commands against a steady 5 kW surplus.
 * 1:00 set_power 2 kW for 120 s (a cap that lapses at 3:00) · 4:00 curtail (all boards off, ack
 * after) · 5:00 release (staggered ramp back) · 7:00 set_power 1 kW for 60 s.
 */
export function dispatchScenario(seed = 1): Scenario {
  return {
    name: 'dispatch',
    description: 'controller set_power caps, a curtail and a release at set times over a steady surplus',
    durationS: 600,
    seed,
    commands: [parseCommand('set_power 2 120', 60), parseCommand('curtail', 240), parseCommand('release', 300), parseCommand('set_power 1 60', 420)],
    expect: expect('trip within 50 ms of curtail', 'state curtailed at 270 s', 'state running at 400 s', 'no trip from underfrequency', 'miner import <= 2 %'),
    at: (t) => steady(t, seed),
  };
}

/**
 * faults: ten minutes of broken equipment over a steady 5 kW surplus, one fault at a time.
 * 1:00 the meter goes silent for 20 s (meter-lost trip, released when it answers) · 2:30 hb1's
 * chain sends garbage for 30 s (link counters rise, the site keeps running) · 4:00 the I/O
 * board's cable is pulled for 15 s (io-lost trip, released when it is back) · 6:00 the site
 * controller is unreachable for 60 s (the site runs on; nothing reported is lost).
 */
export function faultsScenario(seed = 1): Scenario {
  return {
    name: 'faults',
    description: 'meter silence, board garbage, I/O board loss and a controller outage, one at a time',
    durationS: 600,
    seed,
    faults: [parseFault('meter-silence 20', 60), parseFault('board-garbage hb1 30', 150), parseFault('io-loss 15', 240), parseFault('controller-outage 60', 360)],
    expect: expect('trip from meter-lost', 'trip from io-lost', 'no trip from underfrequency', 'state running at 560 s'),
    at: (t) => steady(t, seed),
  };
}

/**
 * stock-fleet: a site of stock network miners, 3 of each family (am0-2 Antminer, wm0-2 Whatsminer,
 * av0-2 Avalon: about 30 kW of nameplate) and 2 hashboards, over a steady surplus of about 26 kW,
 * so control trims the fleet with each firmware's own settings. 2:00 curtail (every miner's stop
 * sent at once) · 4:00 release · 7:00 set_power 15 kW for 120 s · 10:00 wm1's API refuses every
 * connection for 60 s (a fault the rest ride through; it is let back in after it answers again).
 */
export function stockFleetScenario(seed = 1): Scenario {
  return {
    name: 'stock-fleet',
    description: 'nine stock miners of the three makers and two boards: a curtail, a release, a power cap and a miner that stops answering',
    durationS: 900,
    seed,
    site: { boards: 2, miners: 9, families: ['antminer', 'whatsminer', 'avalon'] },
    commands: [parseCommand('curtail', 120), parseCommand('release', 240), parseCommand('set_power 15 120', 420)],
    faults: [parseFault('miner-down wm1 60', 600)],
    expect: expect(
      "every miner's stop accepted within 1000 ms of curtail",
      'power gone within 30 s of curtail',
      'trip within 1000 ms of curtail',
      'state curtailed at 200 s',
      'state running at 400 s',
      'state fault at 630 s',
      'state running at 840 s',
      'no trip from underfrequency',
      'miner import <= 2 %',
    ),
    at: (t) => ({ hz: normalHz(t, 60, seed), generationKw: 27.5 + 0.3 * smooth(t, 45, 6 + k(seed)), baseLoadKw: 1.5 + 0.05 * noise(t, 8 + k(seed)), relay: false }),
  };
}

/** the program of the openadr-events scenario (ERCOT's Emergency Response Service, 30-minute type) */
const ERS_PROGRAM = 'ers-30';

/**
 * openadr-events: eight minutes of OpenADR 3 events from a utility's VTN (webhook notifications,
 * poll_s 10) to a site of 4 boards capped at 6 kW over a steady 5 kW surplus.
 * 0:10 ALERT_GRID_EMERGENCY, open-ended, deleted at 1:10 (curtail, trip source openadr, then
 * released) · 1:40 SIMPLE level 1 for 60 s (half of max_kw: 3 kW) · 3:00 PRICE 0.50/kWh for
 * 60 s (above max_price 0.10: no mining) · 4:20 DISPATCH_SETPOINT 4 kW for 150 s at priority 1,
 * while generation dips to leave 2 kW of surplus (the site imports to meet it) · 4:40 two SIMPLE
 * events for 40 s: level 3 (curtail) at priority 5 and level 1 (3 kW) at priority 1, the
 * higher priority wins (no curtailment; the setpoint held under the 3 kW cap) · 5:40
 * IMPORT_CAPACITY_LIMIT 0.5 kW for 50 s (the setpoint cut back to keep the import under it).
 * The ALERT comes first so a short run (--duration 80) still shows a curtailment and its end.
 */
export function openAdrEventsScenario(seed = 1): Scenario {
  const ev = (atS: number, name: string, type: ScenarioVtnEvent['type'], value: number | string, durationS?: number, more: Partial<ScenarioVtnEvent> = {}): ScenarioVtnEvent =>
    ({ atS, program: ERS_PROGRAM, name, type, value, startS: 0, ...(durationS !== undefined ? { durationS } : {}), ...more });
  return {
    name: 'openadr-events',
    description: 'OpenADR 3 events from a simulated VTN: an emergency alert, SIMPLE levels, a price spike, a dispatch setpoint with overlapping priorities, an import limit',
    durationS: 480,
    seed,
    site: { boards: 4, miners: 0, maxKw: 6 },
    openadr: {
      pollS: 10, notify: true, programs: [ERS_PROGRAM], maxPrice: 0.1,
      events: [
        ev(10, 'grid-emergency', 'ALERT_GRID_EMERGENCY', 'shed load now', undefined, { deleteAtS: 70 }),
        ev(100, 'shed-half', 'SIMPLE', 1, 60),
        ev(180, 'price-spike', 'PRICE', 0.5, 60),
        ev(260, 'dispatch', 'DISPATCH_SETPOINT', 4, 150, { priority: 1 }),
        ev(280, 'shed-all-low-priority', 'SIMPLE', 3, 40, { priority: 5 }),
        ev(280, 'shed-half-high-priority', 'SIMPLE', 1, 40, { priority: 1 }),
        ev(340, 'import-cap', 'IMPORT_CAPACITY_LIMIT', 0.5, 50),
      ],
    },
    expect: expect('trip from openadr', 'state curtailed at 40 s', 'openadr obeyed within 12 s', 'state running at 300 s', 'state running at 470 s', 'no trip from underfrequency'),
    at: (t) => {
      const p = steady(t, seed);
      // a cloud over the dispatch: 2 kW of surplus, so the setpoint imports and the import limit bites
      return t >= 250 && t < 420 ? { ...p, generationKw: p.generationKw - 3 } : p;
    },
  };
}

/**
 * quiet: a site that holds still, the default of `hashflex sim --hardware-only`: a steady 6 kW of
 * generation against a 1 kW base load, nominal frequency, no dips and the relay contact open. A
 * commissioning check (`hashflex doctor`) sees only what it switches; a technician who wants
 * the site to move asks for a scenario (`--scenario demo`).
 */
export function quietScenario(seed = 1): Scenario {
  const nominalHz = 60;
  return {
    name: 'quiet',
    description: 'a steady site: 6 kW of generation, a 1 kW base load, nominal frequency, no relay trip',
    durationS: 600,
    seed,
    nominalHz,
    at: () => ({ hz: nominalHz, generationKw: 6, baseLoadKw: 1, relay: false }),
  };
}

const FACTORIES: Record<string, (seed?: number) => Scenario> = {
  demo: demoScenario,
  quiet: quietScenario,
  'ercot-ufr': ercotUfrScenario,
  'ercot-ffr': ercotFfrScenario,
  'wind-surplus-24h': windSurplus24hScenario,
  'nuclear-weekend': nuclearWeekendScenario,
  dispatch: dispatchScenario,
  faults: faultsScenario,
  'stock-fleet': stockFleetScenario,
  'openadr-events': openAdrEventsScenario,
};

/** a built-in scenario by name, its randomness drawn with `seed` (default 1), or undefined */
export function builtinScenario(name: string, seed?: number): Scenario | undefined {
  return Object.hasOwn(FACTORIES, name) ? FACTORIES[name](seed) : undefined;
}

export const demo = demoScenario();
export const ercotUfr = ercotUfrScenario();
export const ercotFfr = ercotFfrScenario();
export const windSurplus24h = windSurplus24hScenario();
export const nuclearWeekend = nuclearWeekendScenario();

export const builtinScenarios: Record<string, Scenario> = Object.fromEntries(Object.keys(FACTORIES).map((n) => [n, FACTORIES[n]()]));
