import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { SerialPort } from 'serialport';

/**
 * The simulator's end of a serial line. With socat on the machine it is a real pty pair: the
 * agent opens `endpoint.path` exactly as it would open /dev/ttyUSB0, and the simulated device
 * reads and writes the other end. Without socat the device listens on 127.0.0.1 and the agent
 * connects with `{ tcp }`, as it would to a ser2net or serial device server.
 *
 * Events: 'data' (Buffer from the agent), 'connect' (agent side opened, TCP only).
 */
export type WireEndpoint = { path: string } | { tcp: string };

export function hasSocat(): boolean {
  if (process.env.HASHFLEX_NO_SOCAT === '1') return false;
  return spawnSync('socat', ['-V'], { stdio: 'ignore' }).status === 0;
}

export interface SimWire extends EventEmitter {
  readonly endpoint: WireEndpoint;
  readonly kind: 'pty' | 'tcp';
  write(bytes: Uint8Array): void;
  /** Drop the line (as if unplugged): the agent sees its port close / connection reset. */
  unplug(): Promise<void>;
  /** Bring it back after unplug() at the same endpoint. */
  plug(): Promise<void>;
  close(): Promise<void>;
}

/** Open a wire named `name` (pty links go in `dir`). */
export async function openWire(name: string, dir: string, usePty = hasSocat()): Promise<SimWire> {
  const wire = usePty ? new PtyWire(path.resolve(dir, name)) : new TcpWire();
  await wire.plug();
  return wire;
}

class PtyWire extends EventEmitter implements SimWire {
  readonly kind = 'pty' as const;
  readonly endpoint: WireEndpoint;
  private socat?: ChildProcess;
  private port?: SerialPort;
  private readonly simPath: string;

  constructor(private readonly agentPath: string) {
    super();
    this.endpoint = { path: agentPath };
    this.simPath = `${agentPath}.sim`;
  }

  async plug(): Promise<void> {
    fs.mkdirSync(path.dirname(this.agentPath), { recursive: true });
    for (const p of [this.agentPath, this.simPath]) fs.rmSync(p, { force: true });
    const socat = spawn('socat', [
      `pty,raw,echo=0,link=${this.agentPath}`,
      `pty,raw,echo=0,link=${this.simPath}`,
    ], { stdio: 'ignore' });
    this.socat = socat;
    // a machine without socat: a rejection here, never an unhandled 'error' (spawn ENOENT)
    let failed: Error | undefined;
    socat.once('error', (e) => { failed = e; });
    try {
      await waitFor(() => {
        if (failed) throw new Error(`socat: ${failed.message} (apt-get install socat, or serve the line over TCP)`);
        return fs.existsSync(this.agentPath) && fs.existsSync(this.simPath);
      }, 3000, `socat pty ${this.agentPath}`);
    } catch (e) {
      this.socat = undefined;
      if (!failed && socat.exitCode === null) socat.kill('SIGKILL');
      throw e;
    }
    const port = new SerialPort({ path: this.simPath, baudRate: 115200, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
    port.on('data', (d: Buffer) => this.emit('data', d));
    port.on('error', () => {});
    this.port = port;
  }

  write(bytes: Uint8Array): void {
    if (this.port?.isOpen) this.port.write(Buffer.from(bytes));
  }

  async unplug(): Promise<void> {
    const port = this.port;
    const socat = this.socat;
    this.port = undefined;
    this.socat = undefined;
    if (port?.isOpen) await new Promise<void>((r) => port.close(() => r()));
    if (socat && socat.exitCode === null) {
      const exited = new Promise<void>((r) => socat.once('exit', () => r()));
      socat.kill('SIGTERM');
      await exited;
    }
    for (const p of [this.agentPath, this.simPath]) fs.rmSync(p, { force: true });
  }

  close(): Promise<void> {
    return this.unplug();
  }
}

class TcpWire extends EventEmitter implements SimWire {
  readonly kind = 'tcp' as const;
  endpoint: WireEndpoint = { tcp: '127.0.0.1:0' };
  private server?: net.Server;
  private socket?: net.Socket;
  private port = 0;

  async plug(): Promise<void> {
    const server = net.createServer((s) => {
      // one agent at a time, like a serial line: a new connection replaces the old one
      this.socket?.destroy();
      this.socket = s;
      s.setNoDelay(true);
      s.on('data', (d: Buffer) => this.emit('data', d));
      s.on('error', () => {});
      s.on('close', () => { if (this.socket === s) this.socket = undefined; });
      this.emit('connect');
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.endpoint = { tcp: `127.0.0.1:${this.port}` };
    this.server = server;
  }

  write(bytes: Uint8Array): void {
    this.socket?.write(bytes);
  }

  async unplug(): Promise<void> {
    this.socket?.destroy();
    this.socket = undefined;
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }

  close(): Promise<void> {
    return this.unplug();
  }
}

async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`${what}: not ready after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
