import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { realClock, type Clock } from '../agent/clock';
import { createIoBoard, type IoOptions } from '../drivers/io';
import type { FirmataIoBoard } from '../drivers/io';
import type { HostMessage } from '../sim/firmata-codec';
import { startSimFirmata, type SimFirmata, type SimFirmataOptions } from '../sim/firmata';
import { Plant } from '../sim/plant';
import { openWire, type SimWire } from '../sim/wire';
import { ptyOrTcp } from './harness/peers';

/**
 * A simulated site with a StandardFirmata board on a real pty (raw TCP where socat is missing:
 * harness/peers), and the real driver on the other end. `received` collects what the sim parsed, with the raw bytes, in order.
 */
export interface IoRig {
  plant: Plant;
  wire: SimWire;
  sim: SimFirmata;
  io: FirmataIoBoard;
  received: { m: HostMessage; hex: string }[];
  close(): Promise<void>;
}

/** hb0..hb7: port 0 shares the relay's port (pin 7), the rest spread over ports 1 and 2 */
export const ENABLE_PINS = [2, 3, 4, 5, 6, 8, 22, 23];

export interface RigOptions {
  usePty?: boolean;
  boards?: number;
  relayActive?: 'low' | 'high';
  io?: Partial<IoOptions>;
  /** the driver's clock (watchdog, handshake and reconnect timers); real by default */
  clock?: Clock;
  /** the simulated board's own options (e.g. fewer analog inputs) */
  sim?: Pick<SimFirmataOptions, 'analogInputs'>;
}

export async function ioRig(o: RigOptions = {}): Promise<IoRig> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hf-io-'));
  const plant = new Plant();
  const enable: Record<string, number> = {};
  const thermistors: { id: string; pin: string; boardId: string }[] = [];
  for (let i = 0; i < (o.boards ?? 2); i++) {
    const id = `hb${i}`;
    enable[id] = ENABLE_PINS[i];
    plant.boards.set(id, { id, chips: 4, enabled: false, active: false, mhz: 0, wattsPerChip: () => 10, tempC: 30 + i });
    if (i < 2) thermistors.push({ id: `t${i}`, pin: `A${2 + i}`, boardId: id });
  }
  const fans = [{ id: 'fan0', pwm_pin: 9, tach_pin: 'A0' }, { id: 'fan1', pwm_pin: 44, tach_pin: 'A1' }];
  const relayActive = o.relayActive ?? 'low';
  const wire = await openWire('io', dir, o.usePty ?? ptyOrTcp());
  const sim = startSimFirmata({ wire, plant, enable, fans, relayPin: 7, relayActive, thermistors, ...o.sim });
  const received: IoRig['received'] = [];
  sim.on('message', (m: HostMessage, raw: Buffer) => received.push({ m, hex: raw.toString('hex') }));
  const io = createIoBoard({
    serial: wire.endpoint,
    enable,
    fans,
    relay: { pin: 7, active: relayActive },
    thermistors: thermistors.map((t) => ({ id: t.id, pin: t.pin })),
    sample_ms: 20,
    watchdog_ms: 300,
    handshake_ms: 1500,
    reconnect_ms: { min: 50, max: 200 },
    ...o.io,
  }, o.clock ?? realClock);
  return {
    plant, wire, sim, io, received,
    async close() {
      await io.close();
      await sim.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** the next `event` from `em`, or a rejection after `ms` (generous: the machine is shared) */
export function next<T = unknown>(em: EventEmitter, event: string, ms = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { em.off(event, on); reject(new Error(`no '${event}' within ${ms} ms`)); }, ms);
    const on = (v: T) => { clearTimeout(t); resolve(v); };
    em.once(event, on);
  });
}

/** resolve when `cond()` holds, polling real I/O progress (not a timing assertion) */
export async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`not true within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
