import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { realClock } from '../agent/clock';
import { validateConfig } from '../agent/config';
import { startAgent, type RunningAgent } from '../agent/main';
import { createIoBoard } from '../drivers/io';
import { startPtyFirmata, type CurtailSeen, type PtyFirmata } from '../sim/firmata-pty';
import { simBoard } from '../sim/hashboard';
import { Plant } from '../sim/plant';
import { VirtualBoard, VirtualMeter } from '../sim/virtual';

/**
 * The `curtail` ack against the enable lines (issue 17 item 3): the real agent (startAgent,
 * real uplink, real I/O driver) on a kernel pty to a StandardFirmata board in another process
 * that is also the site controller (sim/firmata-pty.ts), with two of four boards failing their
 * bring-up and retrying every board_retry_ms, and optionally a busy loop on every core.
 *
 * Each cycle waits until the two good boards' lines are high, curtails the site, and has the
 * board say how the enable lines stood when the ack was read; then releases. A cycle goes
 * either through the uplink (the controller's `curtail`, its ack) or through Site.curtail()
 * (resolution, then a mark on the board's stdin): both are checked the same way.
 */
/** hb0 and hb3 share port 0 with the relay (pin 7); hb1 is on port 1, hb2 on port 2 */
export const ACK_PINS = { hb0: 2, hb1: 8, hb2: 22, hb3: 3 } as const;
export const GOOD = ['hb0', 'hb1'] as const;
export const FAILING = ['hb2', 'hb3'] as const;
const AGENT = 'ack';
const TOKEN = 'io-ack-test-token';

export interface AckCycle extends CurtailSeen {
  via: 'uplink' | 'site';
  /** the agent handed its ack to the uplink (uplink cycles) or Site.curtail() resolved (site cycles), ms CLOCK_MONOTONIC */
  agentAckAt: number;
}

export interface AckRig {
  board: PtyFirmata;
  agent: RunningAgent;
  /** one curtail, checked at the ack, then a release; waits for the good boards' lines first */
  cycle(via: 'uplink' | 'site'): Promise<AckCycle>;
  close(): Promise<void>;
}

const now = () => Number(process.hrtime.bigint()) / 1e6;

/** A busy loop on every core, each in its own process, ending by itself after `ms` or once this process is gone. */
export function loadCores(ms: number): { stop(): void } {
  const kids: ChildProcess[] = [];
  const loop = `const end = Date.now() + ${ms}; for (let i = 0; ; i++) if ((i & 0xfffff) === 0 && (Date.now() > end || process.ppid !== ${process.pid})) break;`;
  for (let i = 0; i < os.cpus().length; i++) kids.push(spawn(process.execPath, ['-e', loop], { stdio: 'ignore' }));
  return { stop: () => { for (const k of kids) if (k.exitCode === null) k.kill('SIGKILL'); } };
}

export interface AckRigOptions {
  /**
   * nice value for the board's process (e.g. -10): a real board is hardware of its own that the
   * host's load does not slow, so a bench gives its stand-in the CPU first; where the OS refuses,
   * `boardNice` says what it runs at
   */
  boardNice?: number;
}

export async function ackRig(o: AckRigOptions = {}): Promise<AckRig & { boardNice: number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hf-io-ack-'));
  const board = await startPtyFirmata({ enable: { ...ACK_PINS }, relayPin: 7, relayActive: 'low', controller: { token: TOKEN } });
  let agent: RunningAgent | undefined;
  let boardNice = os.getPriority(board.pid);
  if (o.boardNice !== undefined) {
    try {
      os.setPriority(board.pid, o.boardNice);
      boardNice = o.boardNice;
    } catch { /* not allowed here: it runs at the default */ }
  }
  try {
    const plant = new Plant();
    plant.generationKw = 20;
    plant.baseLoadKw = 0.5;
    const boards = Object.keys(ACK_PINS).map((id) => {
      const b = simBoard(id, 'bm1366', 110);
      b.enabled = true; // the agent's side of the chains: powered; the enable lines are the pty board's
      plant.boards.set(id, b);
      const hw = new VirtualBoard(b, 'bm1366', realClock);
      if ((FAILING as readonly string[]).includes(id)) hw.faults.silent = true; // bring-up fails, every try
      return hw;
    });
    const io = createIoBoard({ serial: { path: board.path }, enable: { ...ACK_PINS }, fans: [], relay: { pin: 7, active: 'low' } }, realClock);
    const config = validateConfig({
      agent: { id: AGENT },
      meter: { tcp: '127.0.0.1:1', poll_ms: 50 },
      boards: Object.entries(ACK_PINS).map(([id, pin]) => ({ id, serial: { tcp: '127.0.0.1:1' }, chips: 110, enable_pin: pin })),
      io: { path: board.path },
      grid: { relay: { pin: 7, active: 'low' } },
      control: { mode: 'setpoint', setpoint_kw: 12, board_on_delay_ms: 0, stagger_ms: 0, board_retry_ms: 1000 },
      uplink: { url: board.url, token: TOKEN },
      storage: { dir },
    }, path.join(dir, 'agent.yaml'));
    agent = await startAgent(config, { hardware: { meter: new VirtualMeter(plant, realClock, 50, 1000), boards, io } });
    const up = agent.uplink!;
    const acked = new Map<string, number>();
    const ack = up.ack.bind(up);
    up.ack = (id, ok, error) => {
      acked.set(id, now());
      ack(id, ok, error);
    };
    await board.waitAgent(AGENT, 20_000);
    const site = agent.site;
    const good = GOOD.map((id) => ACK_PINS[id]);
    const a = agent;
    return {
      board,
      agent: a,
      boardNice,
      async cycle(via) {
        await board.waitHigh(good, 20_000);
        await new Promise((r) => setTimeout(r, Math.random() * 50)); // somewhere in the failing boards' retries
        let seen: CurtailSeen;
        let agentAckAt: number;
        if (via === 'uplink') {
          seen = await board.curtail(AGENT);
          agentAckAt = acked.get(seen.id) ?? NaN;
        } else {
          await board.watch();
          await site.curtail();
          agentAckAt = now();
          seen = await board.mark();
        }
        const r = await board.release(AGENT);
        if (!r.ok) throw new Error(`release refused: ${r.error}`);
        return { ...seen, via, agentAckAt };
      },
      async close() {
        await a.stop();
        await board.close();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await agent?.stop().catch(() => {});
    await board.close();
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
