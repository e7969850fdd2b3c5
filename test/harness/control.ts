import { VirtualClock } from '../../agent/clock';
import { Controller, type ControlSettings } from '../../agent/control/controller';
import type { LoadModel, ControlEvent, TripSource } from '../../agent/control/types';

/** A board whose power grows linearly from 0.5 kW at 400 MHz to 1.5 kW at 600 MHz. */
export function linearBoard(id: string): LoadModel {
  return { id, source: `board:${id}`, min: 400, max: 600, step: 25, kwAt: (mhz) => (mhz <= 0 ? 0 : 0.5 + (mhz - 400) / 200) };
}

export const defaultSettings: ControlSettings = {
  mode: 'surplus', maxKw: 12, setpointKw: 3, marginKw: 0.2, staggerMs: 2000, boardOnDelayMs: 30_000, throttleC: 80, tripC: 95,
  heatTargetC: 60, tripHz: 59.7, sustainMs: 100, release: 'manual', holdS: 60, onMeterLost: 'trip', meterReleaseMs: 5000, onSensorLost: 'trip',
};

/** A controller on a virtual clock that records everything it decides. */
export function rig(settings: Partial<ControlSettings> = {}, boards = 4, board: (id: string) => LoadModel = linearBoard) {
  const clock = new VirtualClock();
  const models = Array.from({ length: boards }, (_, i) => board(`hb${i}`));
  const sheds: { source: TripSource; at: number }[] = [];
  const applied: Map<string, number>[] = [];
  const events: ControlEvent[] = [];
  const c = new Controller({ ...defaultSettings, ...settings }, models, clock, {
    shed: (source, at) => { sheds.push({ source, at }); applied.push(new Map(models.map((b) => [b.id, 0]))); },
    apply: (t) => applied.push(t),
    event: (e) => events.push(e),
  });
  const last = () => applied[applied.length - 1] ?? new Map<string, number>();
  const onKw = () => { let kw = 0; for (const b of models) kw += b.kwAt(last().get(b.id) ?? 0); return kw; };
  return { clock, c, models, sheds, applied, events, last, onKw };
}
