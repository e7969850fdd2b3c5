import { VirtualClock } from '../../agent/clock';
import { validateConfig } from '../../agent/config';
import type { ControlEvent } from '../../agent/control/types';
import { Site, type TripRecord } from '../../agent/site';
import { simBoard } from '../../sim/hashboard';
import { Plant } from '../../sim/plant';
import { SimMachine, STOCK_SPEC } from '../../sim/miners/machine';
import { VirtualBoard, VirtualIo, VirtualMeter, VirtualMiner } from '../../sim/virtual';

export interface VirtualSiteOptions {
  boards?: number;
  /** config sections merged over the rig's (control, meter, thermistors…) */
  config?: Record<string, unknown>;
  pollMs?: number;
  staleMs?: number;
  /** boards wired without an enable line (chain stop alone) */
  noEnable?: string[];
  /** network miners m0… (3.25 kW stock machines behind a power-percent API), asleep at start */
  miners?: number;
}

/**
 * The real Site on a virtual clock over in-process stand-ins (as agent/leap.ts builds them):
 * 110-chip BM1366 boards hb0…, a 4 kW surplus over a 0.5 kW base load, setpoint 3 kW.
 */
export async function virtualSite(o: VirtualSiteOptions = {}) {
  const clock = new VirtualClock();
  const plant = new Plant();
  const ids = Array.from({ length: o.boards ?? 3 }, (_, i) => `hb${i}`);
  const minerIds = Array.from({ length: o.miners ?? 0 }, (_, i) => `m${i}`);
  for (const id of ids) { const b = simBoard(id, 'bm1366', 110); b.enabled = false; plant.boards.set(id, b); }
  plant.generationKw = 4;
  plant.baseLoadKw = 0.5;
  const pollMs = o.pollMs ?? 1000;
  const staleMs = o.staleMs ?? 5000;
  const extra = o.config ?? {};
  const config = validateConfig({
    agent: { id: 'virtual' },
    meter: { tcp: '127.0.0.1:1', poll_ms: pollMs, stale_ms: staleMs, ...(extra.meter as object) },
    boards: ids.map((id, i) => ({ id, serial: { tcp: '127.0.0.1:1' }, chips: 110, ...(o.noEnable?.includes(id) ? {} : { enable_pin: 22 + i }) })),
    ...(ids.length ? { io: { tcp: '127.0.0.1:1' } } : {}),
    miners: minerIds.map((id, i) => ({ id, host: `127.23.0.${i + 1}`, driver: 'whatsminer' })),
    ...extra,
    control: { mode: 'setpoint', setpoint_kw: 3, ...(extra.control as object) },
  });
  const io = new VirtualIo(plant, clock, 0);
  const meter = new VirtualMeter(plant, clock, pollMs, staleMs);
  const hw = ids.map((id) => new VirtualBoard(plant.boards.get(id)!, 'bm1366', clock));
  const machines = minerIds.map((id) => {
    const m = new SimMachine(id, STOCK_SPEC, STOCK_SPEC.standbyKw);
    m.state = 'sleeping';
    plant.machines.set(id, m);
    return m;
  });
  const miners = machines.map((m) => new VirtualMiner(m, clock));
  const s = new Site(config, { meter, boards: hw, io: ids.length ? io : undefined, miners }, clock);
  const events: ControlEvent[] = [];
  const trips: TripRecord[] = [];
  s.on('control', (e: ControlEvent) => events.push(e));
  s.on('trip', (t: TripRecord) => trips.push(t));
  /** every enable-line write, per board */
  const raised: Record<string, number> = {};
  const setEnable = io.setEnable.bind(io);
  io.setEnable = (id, on) => { if (on) raised[id] = (raised[id] ?? 0) + 1; setEnable(id, on); };
  const start = () => s.start();
  const run = async (ms: number, each?: () => void) => {
    for (let t = 0; t < ms; t += 100) { clock.advance(100); plant.tick(100); each?.(); await new Promise((r) => setImmediate(r)); }
  };
  const hashing = () => ids.filter((id) => { const b = plant.boards.get(id)!; return b.enabled && b.active; });
  const count = (kind: string, source: string) => events.filter((e) => e.kind === kind && e.source === source).length;
  return { s, clock, plant, hw, io, meter, miners, machines, events, trips, raised, start, run, hashing, count, config, retryMs: config.control.board_retry_ms };
}
