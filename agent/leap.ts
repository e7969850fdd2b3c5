import { VirtualClock } from './clock';
import { validateConfig, type ConfigInput } from './config';
import { Site, type TripRecord } from './site';
import { Plant } from '../sim/plant';
import { simBoard } from '../sim/hashboard';
import type { Scenario } from '../sim/scenarios/types';
import { VirtualBoard, VirtualIo, VirtualMeter } from '../sim/virtual';

/**
 * The time-leap rig: the real Site and control core on a VirtualClock, with in-process stand-ins
 * for the drivers acting on the simulated plant. A 24-hour scenario runs in seconds. What it does
 * not cover — real transports, driver timing — the pty/TCP rig (sim/site.ts) does.
 */
export interface LeapOptions {
  scenario: Scenario;
  durationS: number;
  boards?: number;
  chips?: number;
  /** config overrides (control, grid...), merged over the rig's defaults */
  config?: Partial<ConfigInput>;
  /** plant/accounting step (ms) */
  stepMs?: number;
  /** called every simulated second, for progress and live status */
  onSecond?: (tS: number, site: Site, plant: Plant) => void;
  /** wall-clock pacing: virtual seconds per real second; undefined = as fast as possible */
  speed?: number;
}

export interface LeapResult {
  durationS: number;
  surplusKwh: number;
  /** miner energy that came out of the surplus */
  usedKwh: number;
  minerKwh: number;
  /** grid import the miners caused: their draw beyond the surplus */
  minerImportKwh: number;
  /** times a board went from off to on */
  switchings: number;
  trips: TripRecord[];
}

export async function runLeap(o: LeapOptions): Promise<LeapResult> {
  const clock = new VirtualClock();
  const plant = new Plant();
  const n = o.boards ?? 4;
  const chips = o.chips ?? 110;
  const ids = Array.from({ length: n }, (_, i) => `hb${i}`);
  for (const id of ids) {
    const b = simBoard(id, 'bm1366', chips);
    b.enabled = false;
    plant.boards.set(id, b);
  }
  const config = validateConfig({
    agent: { id: 'leap' },
    meter: { tcp: '127.0.0.1:1', poll_ms: 1000, stale_ms: 5000 },
    boards: ids.map((id, i) => ({ id, serial: { tcp: '127.0.0.1:1' }, chips, enable_pin: 22 + i })),
    io: { tcp: '127.0.0.1:1' },
    grid: { nominal_hz: o.scenario.nominalHz ?? 60, underfrequency: { release: 'auto', hold_s: 10 } },
    ...o.config,
  });
  const apply = (tS: number) => {
    const p = o.scenario.at(tS);
    plant.hz = p.hz;
    plant.generationKw = p.generationKw;
    plant.baseLoadKw = p.baseLoadKw;
    plant.relayActive = p.relay;
  };
  apply(0);
  const site = new Site(config, {
    meter: new VirtualMeter(plant, clock, config.meter.poll_ms),
    boards: ids.map((id) => new VirtualBoard(plant.boards.get(id)!, 'bm1366', clock)),
    io: new VirtualIo(plant, clock),
  }, clock);
  const trips: TripRecord[] = [];
  site.on('trip', (t: TripRecord) => trips.push(t));
  await site.start();

  const stepMs = o.stepMs ?? 100;
  const r: LeapResult = { durationS: o.durationS, surplusKwh: 0, usedKwh: 0, minerKwh: 0, minerImportKwh: 0, switchings: 0, trips };
  const wasOn = new Map(ids.map((id) => [id, false]));
  const t0 = clock.now();
  const wall0 = Date.now();
  let nextSecond = 0;
  for (let ms = 0; ms < o.durationS * 1000; ms += stepMs) {
    apply(ms / 1000);
    clock.advance(stepMs);
    plant.tick(stepMs);
    // let the site's promise chains (board runners) run before the next step
    await new Promise((res) => setImmediate(res));
    const h = stepMs / 3_600_000;
    const surplus = Math.max(0, plant.generationKw - plant.baseLoadKw);
    const miners = plant.minersKw();
    r.surplusKwh += surplus * h;
    r.minerKwh += miners * h;
    r.usedKwh += Math.min(miners, surplus) * h;
    r.minerImportKwh += Math.max(0, miners - surplus) * h;
    for (const id of ids) {
      const on = plant.boards.get(id)!.enabled;
      if (on && !wasOn.get(id)) r.switchings++;
      wasOn.set(id, on);
    }
    if (ms >= nextSecond * 1000) {
      o.onSecond?.(nextSecond, site, plant);
      nextSecond++;
      if (o.speed) {
        const ahead = (clock.now() - t0) / o.speed - (Date.now() - wall0);
        if (ahead > 5) await new Promise((res) => setTimeout(res, ahead));
      }
    }
  }
  await site.stop();
  return r;
}
