import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startSimController } from '../sim/controller';
import { rmDir, tmpDir, until } from './fixtures/uplink/util';

/**
 * What `journalctl -u hashflex` shows of a failing uplink: each change of the link's state once,
 * with its cause (warn when it goes down or the cause changes, info when it comes back up),
 * never a line per retry at the default level. The uplink runs in a child process of its own so
 * its pino log (stderr) is read as the service's journal would.
 */
const TLS = path.join(__dirname, 'fixtures/uplink/tls');
const tls = { key: fs.readFileSync(path.join(TLS, 'server-key.pem')), cert: fs.readFileSync(path.join(TLS, 'server-cert.pem')) };

interface Line { level: number; msg: string; failed_attempts?: number; [k: string]: unknown }

class Child {
  readonly p: ChildProcess;
  private err = '';
  readonly exited: Promise<number | null>;
  constructor(dir: string, url: string, caFile?: string) {
    const env: NodeJS.ProcessEnv = { ...process.env, HASHFLEX_LOG: 'debug' };
    delete env.HASHFLEX_LOG_FILE; // on stderr, as under systemd
    this.p = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'fixtures/uplink/link-log-child.ts'), dir, url, caFile ?? ''], {
      stdio: ['ignore', 'ignore', 'pipe'], env,
    });
    this.p.stderr!.on('data', (d) => { this.err += d; });
    this.exited = new Promise((r) => this.p.once('exit', (code) => r(code)));
  }

  lines(): Line[] {
    return this.err.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line).filter((l) => l.ns === 'uplink');
  }

  /** what the default level (info) shows */
  shown(): Line[] {
    return this.lines().filter((l) => l.level >= 30);
  }

  /** the failed attempts so far, from the debug lines of the retries */
  attempts(): number {
    return Math.max(0, ...this.lines().map((l) => l.failed_attempts ?? 0));
  }

  async stop(): Promise<number | null> {
    if (this.p.exitCode === null && this.p.signalCode === null) this.p.kill('SIGTERM');
    return this.exited;
  }
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

test('A refused connection is one warn line with its cause across many retries; up again is info; a drop warns once more', async () => {
  const dir = tmpDir('uplink-logs');
  const port = await freePort();
  const child = new Child(dir, `ws://127.0.0.1:${port}/uplink`);
  let ctl: Awaited<ReturnType<typeof startSimController>> | undefined;
  try {
    await until(() => child.attempts() >= 5, 20_000);
    assert.equal(child.shown().map((l) => [l.level, l.msg]), [
      [40, `uplink down: connect ECONNREFUSED 127.0.0.1:${port} (retrying with backoff)`],
    ]);
    assert.is(child.shown()[0].code, 'ECONNREFUSED');

    ctl = await startSimController({ port, token: 'log-test-token' });
    await until(() => child.shown().some((l) => l.msg === 'uplink up'), 20_000);
    const up = child.shown().find((l) => l.msg === 'uplink up')!;
    assert.is(up.level, 30);
    assert.ok((up.failed_attempts as number) >= 5, JSON.stringify(up));
    assert.ok(typeof up.down_ms === 'number');

    await ctl.close();
    ctl = undefined;
    // the drop, then retries refused again: a line for the drop and one for the new cause, no more
    const afterUp = (): Line[] => child.lines().slice(child.lines().findIndex((l) => l.msg === 'uplink up') + 1);
    await until(() => afterUp().filter((l) => l.msg === 'uplink still down').length >= 4, 20_000);
    const shown = afterUp().filter((l) => l.level >= 30);
    assert.is(shown.length, 2, JSON.stringify(shown));
    assert.is(shown[0].level, 40);
    assert.match(shown[0].msg, /^uplink down: (connection lost|closed by the far end) \(close code \d+\) \(retrying with backoff\)$/);
    assert.equal([shown[1].level, shown[1].msg], [40, `uplink down: connect ECONNREFUSED 127.0.0.1:${port} (retrying with backoff)`]);
    assert.is(await child.stop(), 0);
  } finally {
    await ctl?.close();
    await child.stop();
    rmDir(dir);
  }
});

test('A controller certificate the agent cannot verify is one warn line naming uplink.ca_file, not one per retry', async () => {
  const ctl = await startSimController({ token: 'log-test-token', tls });
  const dirs = [tmpDir('uplink-logs'), tmpDir('uplink-logs')];
  // without a CA file (the system CAs), and with one that did not sign the controller's certificate
  const noCa = new Child(dirs[0], ctl.url);
  const wrongCa = new Child(dirs[1], ctl.url, path.join(TLS, 'server-cert.pem'));
  try {
    await until(() => noCa.attempts() >= 4 && wrongCa.attempts() >= 4, 20_000);
    const a = noCa.shown();
    assert.is(a.length, 1, JSON.stringify(a));
    assert.is(a[0].level, 40);
    assert.is(a[0].msg, 'uplink TLS failure: unable to verify the first certificate — set uplink.ca_file to the CA that signed the controller\'s certificate (the system CAs do not trust it)');
    const b = wrongCa.shown();
    assert.is(b.length, 1, JSON.stringify(b));
    assert.is(b[0].level, 40);
    assert.is(b[0].msg, 'uplink TLS failure: unable to verify the first certificate — check uplink.ca_file');
    assert.equal(ctl.agents.size, 0);
  } finally {
    await noCa.stop();
    await wrongCa.stop();
    await ctl.close();
    for (const d of dirs) rmDir(d);
  }
});

test('A refused token is one error line naming uplink.token', async () => {
  const ctl = await startSimController({ token: 'another-token' });
  const dir = tmpDir('uplink-logs');
  const child = new Child(dir, ctl.url);
  try {
    await until(() => child.attempts() >= 4, 20_000);
    assert.equal(child.shown().map((l) => [l.level, l.msg]), [
      [50, 'uplink refused: the controller answered 401 to our token — check uplink.token (retrying with backoff)'],
    ]);
  } finally {
    await child.stop();
    await ctl.close();
    rmDir(dir);
  }
});

test.run();
