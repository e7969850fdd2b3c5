import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import readline from 'node:readline';
import tty from 'node:tty';
import { startSimController, type AckFrame, type SimController } from './controller';
import type { HostMessage } from './firmata-codec';
import { startSimFirmata } from './firmata';
import type { CurtailSeen, PtyFirmataOptions, PtyFirmataRequest } from './firmata-pty';
import { Plant } from './plant';
import type { SimWire } from './wire';

/**
 * The pty Firmata board as a program (sim/firmata-pty.ts starts it through python's openpty):
 * a StandardFirmata board on the master of a kernel pty, stamping what it reads, optionally the
 * site controller too, driven by JSON lines on stdin, answering on stdout. Exits when its
 * stdin ends.
 */
const [masterFd, , ptyPath] = (process.env.HASHFLEX_PTY ?? '').split(',');
if (!ptyPath) {
  process.stderr.write('firmata-pty-main: run through sim/firmata-pty.ts (needs HASHFLEX_PTY from openpty)\n');
  process.exit(2);
}
const fd = Number(masterFd);
const o = JSON.parse(process.argv[2] ?? '{}') as PtyFirmataOptions;
const now = () => Number(process.hrtime.bigint()) / 1e6;

/** The master end as the board's wire. The slave is the agent's, opened by path. */
class MasterWire extends EventEmitter implements SimWire {
  readonly kind = 'pty' as const;
  readonly endpoint = { path: ptyPath };
  /** when the chunk being delivered was read, and whether the look at an ack read it */
  at = 0;
  atAck = false;
  private readonly rx = new tty.ReadStream(fd);

  constructor() {
    super();
    this.rx.on('data', (d: Buffer) => this.deliver(d, false));
    this.rx.on('error', () => { /* the agent's end closed: the board holds the slave, so not expected */ });
  }

  /** read, now and synchronously, whatever the kernel holds for the board */
  look(): void {
    const buf = Buffer.alloc(4096);
    for (;;) {
      let n: number;
      try {
        n = fs.readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') return;
        throw e;
      }
      if (n <= 0) return;
      this.deliver(Buffer.from(buf.subarray(0, n)), true);
    }
  }

  write(bytes: Uint8Array): void {
    try {
      fs.writeSync(fd, bytes);
    } catch { /* the agent's end is not reading and its queue is full: lost, as on a real line */ }
  }

  async unplug(): Promise<void> {}
  async plug(): Promise<void> {}
  async close(): Promise<void> {
    this.rx.destroy();
  }

  private deliver(d: Buffer, atAck: boolean): void {
    this.at = now();
    this.atAck = atAck;
    this.emit('data', d);
  }
}

const plant = new Plant();
for (const id of Object.keys(o.enable)) plant.boards.set(id, { id, chips: 4, enabled: false, active: false, mhz: 0, wattsPerChip: () => 10, tempC: 40 });
const wire = new MasterWire();
const sim = startSimFirmata({ wire, plant, enable: o.enable, fans: [], relayPin: o.relayPin, relayActive: o.relayActive });
const enablePins = Object.values(o.enable);
const enablePorts = [...new Set(enablePins.map((p) => p >> 3))];

/** the curtail being watched: the digital messages to enable ports since it was sent */
let watching: { id: string; sentAt: number; messages: { at: number; atAck: boolean; port: number }[] } | undefined;
sim.on('message', (m: HostMessage) => {
  if (watching && m.kind === 'digital' && enablePorts.includes(m.port)) watching.messages.push({ at: wire.at, atAck: wire.atAck, port: m.port });
});

/** at the ack: read what the pty holds, then how the enable lines stand */
function judge(ackAt: number, ok: boolean): CurtailSeen {
  wire.look();
  const w = watching!;
  watching = undefined;
  const high = enablePins.filter((p) => sim.pinLevel(p) !== 0);
  const last = w.messages.at(-1);
  return {
    id: w.id, sentAt: w.sentAt, ackAt, allLow: high.length === 0, high,
    unwritten: enablePorts.filter((p) => !w.messages.some((m) => m.port === p)),
    lastEnableAt: last?.at, lastFound: last?.atAck ? 'at-ack' : 'read', enableMessages: w.messages.length, ok,
  };
}

let controller: SimController | undefined;
const acks = new Map<string, (a: AckFrame, at: number) => void>();
let marks = 0;

function reply(id: number, r: { reply?: unknown; error?: string }): void {
  process.stdout.write(`${JSON.stringify({ id, ...r })}\n`);
}

function poll(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const end = Date.now() + timeoutMs;
    const t = setInterval(() => {
      if (cond()) { clearInterval(t); resolve(); } else if (Date.now() > end) { clearInterval(t); reject(new Error(`${what}: not within ${timeoutMs} ms`)); }
    }, 5);
  });
}

function awaitAck(req: number, id: string, onAck: (a: AckFrame, at: number) => void): void {
  const t = setTimeout(() => { acks.delete(id); reply(req, { error: `no ack for ${id} within 10 s` }); }, 10_000);
  acks.set(id, (a, at) => { clearTimeout(t); onAck(a, at); });
}

async function handle(req: { id: number } & PtyFirmataRequest, readAt: number): Promise<void> {
  switch (req.op) {
    case 'curtail': {
      if (!controller) throw new Error('started without a controller');
      const id = `curtail-${req.id}`;
      watching = { id, sentAt: now(), messages: [] };
      awaitAck(req.id, id, (a, at) => reply(req.id, { reply: judge(at, a.ok) }));
      controller.sendRaw(req.agent, JSON.stringify({ type: 'command', id, action: 'curtail' }));
      return;
    }
    case 'release': {
      if (!controller) throw new Error('started without a controller');
      const id = `release-${req.id}`;
      awaitAck(req.id, id, (a) => reply(req.id, { reply: { ok: a.ok, error: a.error } }));
      controller.sendRaw(req.agent, JSON.stringify({ type: 'command', id, action: 'release' }));
      return;
    }
    case 'watch':
      watching = { id: `mark-${++marks}`, sentAt: readAt, messages: [] };
      return reply(req.id, { reply: {} });
    case 'mark':
      if (!watching) throw new Error('mark without watch');
      return reply(req.id, { reply: judge(readAt, true) });
    case 'wait-agent':
      await poll(() => controller?.agents.get(req.agent)?.connected === true, req.timeoutMs, `agent ${req.agent} connected`);
      return reply(req.id, { reply: {} });
    case 'wait-high':
      await poll(() => req.pins.every((p) => sim.pinLevel(p) === 1), req.timeoutMs, `pins ${req.pins.join(',')} high`);
      return reply(req.id, { reply: {} });
    case 'levels':
      return reply(req.id, { reply: Object.fromEntries(enablePins.map((p) => [p, sim.pinLevel(p)])) });
  }
}

async function main(): Promise<void> {
  if (o.controller) {
    controller = await startSimController({ token: o.controller.token });
    controller.on('ack', (a: AckFrame) => {
      const at = now(); // first: the moment the ack was read
      const h = acks.get(a.id);
      if (!h) return;
      acks.delete(a.id);
      h(a, at);
    });
  }
  process.stdout.write(`${JSON.stringify({ started: true, path: ptyPath, url: controller?.url })}\n`);
  const lines = readline.createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    const readAt = now();
    let req: { id: number } & PtyFirmataRequest;
    try { req = JSON.parse(line); } catch { return; }
    handle(req, readAt).catch((e: Error) => reply(req.id, { error: e.message }));
  });
  lines.on('close', () => {
    void (async () => {
      await controller?.close();
      await sim.close();
      process.exit(0);
    })();
  });
}

void main();
