import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { VirtualClock } from '../agent/clock';
import { createHashboard, type HashboardOptions } from '../drivers/hashboard';
import { REG_PLL0, pllMhz, type Command } from '../drivers/hashboard/codec';
import type { ChipModel } from '../drivers/hashboard/models';
import { simBoard, startSimChain } from '../sim/hashboard';
import { openWire } from '../sim/wire';
import { ptyOrTcp } from './harness/peers';

/**
 * One simulated chain on a real pty (the raw-TCP fallback where socat is missing: harness/peers)
 * and the real driver on the other side, sharing a VirtualClock: time moves only when a test
 * says so, bytes move for real.
 */
export async function chainRig(o: { chips?: number; model?: ChipModel; usePty?: boolean; driver?: Partial<HashboardOptions> } = {}) {
  const chips = o.chips ?? 8;
  const model = o.model ?? 'bm1366';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hashflex-hb-'));
  const clock = new VirtualClock();
  const wire = await openWire('hb0', dir, o.usePty ?? ptyOrTcp());
  const board = simBoard('hb0', model, chips);
  const chain = startSimChain({ wire, board, model, chips, clock });
  const frames: Command[] = [];
  chain.on('frame', (f: Command) => frames.push(f));
  const hb = createHashboard({ id: 'hb0', model, serial: wire.endpoint, chips, ...o.driver }, clock);
  return {
    clock, wire, board, chain, frames, hb,
    /** advanceUntil with this rig's clock, waiting for the driver's reads between steps */
    advance: (cond: () => boolean, stepMs: number, what: string, maxSteps?: number) => advanceUntil(clock, cond, stepMs, what, maxSteps, hb),
    settle: (ms?: number) => settle(ms, hb),
    /** frequencies of the PLL writes the chain received, in order, from frame index `from` */
    pllWrites(from = 0): number[] {
      return frames.slice(from).filter((f) => !f.job && (f.header & 0x0f) === 1 && f.data[1] === REG_PLL0).map((f) => pllMhz(f.data.readUInt32BE(2)));
    },
    async close() {
      await hb.close();
      chain.close();
      await wire.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** wait for real I/O until `cond` holds (never used to wait for time-dependent logic) */
export async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** move virtual time in steps, letting real I/O settle between steps, until `cond` holds */
export async function advanceUntil(clock: VirtualClock, cond: () => boolean, stepMs: number, what: string, maxSteps = 200, hb?: { busy: boolean }): Promise<void> {
  for (let i = 0; i < maxSteps && !cond(); i++) {
    clock.advance(stepMs);
    await settle(10, hb);
  }
  if (!cond()) throw new Error(`not reached after ${maxSteps} steps: ${what}`);
}

/**
 * Let bytes in flight cross the pty and get parsed on both sides: wait `ms`, then, if the
 * driver has a read out, until its replies are in (a loaded machine may take a while), up to
 * `capMs` (a silent or slow chain never answers before virtual time moves on).
 */
export async function settle(ms = 10, hb?: { busy: boolean }, capMs = 150): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
  const end = Date.now() + capMs;
  while (hb?.busy && Date.now() < end) await new Promise((r) => setTimeout(r, 2));
}
