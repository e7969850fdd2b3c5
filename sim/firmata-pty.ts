import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import path from 'node:path';
import readline from 'node:readline';

/**
 * A StandardFirmata board (sim/firmata.ts) in a process of its own, on a kernel pty that it
 * holds the master of: the agent opens `path` (/dev/pts/N) exactly as it would /dev/ttyACM0,
 * with no relay process (socat) between it and the board. The board stamps every chunk it reads
 * from the master with CLOCK_MONOTONIC (process.hrtime, the same clock in every process on the
 * machine), and it can be the site controller too (sim/controller.ts, over WebSocket).
 *
 * Why the controller lives in the board's process: to check that a `curtail` ack never comes
 * before the enable lines are written (issue 17), the board looks at the pty when the ack
 * arrives. The agent hands the enable-line bytes to the OS before it sends the ack (if it is
 * correct), so when the ack is read they are in the master's queue, or read already: a read of
 * the master then (non-blocking; Linux's n_tty_read flushes the pty's pending input work before
 * it answers EAGAIN) finds every one of them. That check does not depend on how fast either
 * process is scheduled, so it holds under any load; the stamps give the margins.
 *
 * Python's os.openpty() makes the pty (Node has no openpty); the python process then execs the
 * board program with the master and slave as inherited fds. The board holds the slave open
 * too, so the agent may close and reopen its end without the master reading EIO.
 *
 * Commands and replies are JSON lines on the board's stdin and stdout (see PtyFirmataRequest).
 */

/** what the board program is started with (JSON in argv) */
export interface PtyFirmataOptions {
  /** board id -> enable pin */
  enable: Record<string, number>;
  relayPin?: number;
  relayActive?: 'low' | 'high';
  /** also serve a site controller on a free loopback port */
  controller?: { token?: string };
}

/** A curtail as the board saw it. Times are CLOCK_MONOTONIC ms (process.hrtime). */
export interface CurtailSeen {
  /** the command (or mark) id */
  id: string;
  /** the controller sent the `curtail` (a mark: when it was asked to look) */
  sentAt: number;
  /** the ack (or the mark) was read */
  ackAt: number;
  /** every enable pin low when the ack was read (after reading what the pty held then) */
  allLow: boolean;
  /** enable pins still high then */
  high: number[];
  /** enable ports that got no digital message between the command and the ack */
  unwritten: number[];
  /** the last digital message to an enable port before the ack: when it was read, and whether only the look at the ack found it */
  lastEnableAt?: number;
  lastFound: 'read' | 'at-ack';
  /** digital messages to enable ports between the command and the ack */
  enableMessages: number;
  /** the ack's `ok` (marks: true) */
  ok: boolean;
}

export type PtyFirmataRequest =
  | { op: 'curtail'; agent: string }
  | { op: 'release'; agent: string }
  /** start watching for a curtail without sending one (the agent is curtailed some other way) */
  | { op: 'watch' }
  /** look at the pty now, as at an ack, for the curtail being watched */
  | { op: 'mark' }
  | { op: 'wait-agent'; agent: string; timeoutMs: number }
  | { op: 'wait-high'; pins: number[]; timeoutMs: number }
  | { op: 'levels' };

export interface PtyFirmata {
  /** the agent's end: /dev/pts/N */
  readonly path: string;
  /** the controller's ws:// url, with `controller` */
  readonly url?: string;
  readonly pid: number;
  curtail(agent: string): Promise<CurtailSeen>;
  release(agent: string): Promise<{ ok: boolean; error?: string }>;
  watch(): Promise<void>;
  mark(): Promise<CurtailSeen>;
  waitAgent(agent: string, timeoutMs?: number): Promise<void>;
  waitHigh(pins: number[], timeoutMs?: number): Promise<void>;
  levels(): Promise<Record<string, number>>;
  close(): Promise<void>;
}


const OPENPTY = `
import os, sys, tty
master, slave = os.openpty()
tty.setraw(slave)
os.set_blocking(master, False)  # libuv leaves a pty master's blocking mode alone; the look at an ack must not block
for fd in (master, slave):
    os.set_inheritable(fd, True)
os.environ['HASHFLEX_PTY'] = '%d,%d,%s' % (master, slave, os.ttyname(slave))
os.execvp(sys.argv[1], sys.argv[1:])
`;

export async function startPtyFirmata(o: PtyFirmataOptions): Promise<PtyFirmata> {
  const main = path.join(__dirname, 'firmata-pty-main.ts');
  const child = spawn('python3', ['-c', OPENPTY, process.execPath, '-r', require.resolve('tsx/cjs'), main, JSON.stringify(o)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  return new Client(child).started();
}

class Client extends EventEmitter implements PtyFirmata {
  path = '';
  url?: string;
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  private exited?: Error;

  constructor(private readonly child: ChildProcess) {
    super();
    readline.createInterface({ input: child.stdout! }).on('line', (line) => this.onLine(line));
    child.on('exit', (code, signal) => {
      this.exited = new Error(`pty Firmata board exited (${signal ?? code})`);
      for (const w of this.waiting.values()) w.reject(this.exited);
      this.waiting.clear();
      this.emit('exit');
    });
    child.on('error', (e) => { this.exited = e; this.emit('exit'); });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  started(): Promise<this> {
    return new Promise((resolve, reject) => {
      const onExit = () => reject(this.exited);
      this.once('exit', onExit);
      this.once('started', (m: { path: string; url?: string }) => {
        this.off('exit', onExit);
        this.path = m.path;
        this.url = m.url;
        resolve(this);
      });
    });
  }

  curtail(agent: string): Promise<CurtailSeen> { return this.ask({ op: 'curtail', agent }); }
  release(agent: string): Promise<{ ok: boolean; error?: string }> { return this.ask({ op: 'release', agent }); }
  async watch(): Promise<void> { await this.ask({ op: 'watch' }); }
  mark(): Promise<CurtailSeen> { return this.ask({ op: 'mark' }); }
  async waitAgent(agent: string, timeoutMs = 10_000): Promise<void> { await this.ask({ op: 'wait-agent', agent, timeoutMs }); }
  async waitHigh(pins: number[], timeoutMs = 10_000): Promise<void> { await this.ask({ op: 'wait-high', pins, timeoutMs }); }
  levels(): Promise<Record<string, number>> { return this.ask({ op: 'levels' }); }

  async close(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((r) => this.once('exit', () => r()));
    this.child.stdin!.end(); // the board exits at the end of its input
    const t = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await gone;
    clearTimeout(t);
  }

  private ask(req: PtyFirmataRequest): Promise<any> {
    if (this.exited) return Promise.reject(this.exited);
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.child.stdin!.write(`${JSON.stringify({ id, ...req })}\n`);
    });
  }

  private onLine(line: string): void {
    let m: { id?: number; started?: boolean; error?: string; reply?: unknown; path?: string; url?: string };
    try { m = JSON.parse(line); } catch { return; }
    if (m.started) { this.emit('started', m); return; }
    const w = m.id === undefined ? undefined : this.waiting.get(m.id);
    if (!w) return;
    this.waiting.delete(m.id!);
    if (m.error) w.reject(new Error(m.error));
    else w.resolve(m.reply);
  }
}
