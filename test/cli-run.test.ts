import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VERSION } from '../agent/version';

/**
 * `hashflex --version`, and `hashflex run` stopping on a signal: it says so in its log (what
 * `journalctl -u hashflex` shows of a `systemctl stop`), stops, says so again and exits 0.
 */
const BIN = path.join(__dirname, '..', 'bin', 'hashflex.js');

test('hashflex --version prints the version and exits 0', () => {
  const r = spawnSync(process.execPath, [BIN, '--version'], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout, `hashflex ${VERSION}\n`);
  assert.match(VERSION, /^\d+\.\d+\.\d+/);
});

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`hashflex run logs "stopping on ${signal}", then "stopped", and exits 0`, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hashflex-cli-run-'));
    // nothing answers on these ports: the agent runs (tripped: meter lost) and its uplink retries
    const port = await freePort();
    const file = path.join(dir, 'agent.yaml');
    fs.writeFileSync(file, [
      'agent: { id: cli-run }',
      `meter: { tcp: "127.0.0.1:${port}" }`,
      `boards: [ { id: hb0, serial: { tcp: "127.0.0.1:${port}" } } ]`,
      `uplink: { url: "ws://127.0.0.1:${port}/uplink", backoff_min_ms: 100, backoff_max_ms: 200 }`,
      `storage: { dir: ${JSON.stringify(path.join(dir, 'data'))} }`,
      'ledger: { enabled: false }',
      '',
    ].join('\n'));
    const env: NodeJS.ProcessEnv = { ...process.env, HASHFLEX_LOG: 'info' };
    delete env.HASHFLEX_LOG_FILE;
    const child = spawn(process.execPath, [BIN, 'run', '-c', file], { stdio: ['ignore', 'ignore', 'pipe'], env });
    let err = '';
    child.stderr!.on('data', (d) => { err += d; });
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((r) => child.once('exit', (code, sig) => r([code, sig])));
    const lines = () => err.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: number; ns: string; msg: string; signal?: string });
    try {
      const deadline = Date.now() + 30_000;
      while (!lines().some((l) => l.msg === 'agent started') || !lines().some((l) => l.ns === 'uplink')) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`agent did not start:\n${err}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      child.kill(signal);
      const [code, sig] = await exited;
      assert.is(sig, null, err);
      assert.is(code, 0, err);
      const agent = lines().filter((l) => l.ns === 'agent');
      const stopping = agent.findIndex((l) => l.msg === `stopping on ${signal}`);
      const stopped = agent.findIndex((l) => l.msg === 'stopped');
      assert.ok(stopping >= 0 && stopped > stopping, err);
      assert.is(agent[stopping].level, 30);
      assert.is(agent[stopping].signal, signal);
      // the real agent's failing uplink, as journalctl shows it: one warn line with the cause
      const up = lines().filter((l) => l.ns === 'uplink');
      assert.equal(up.map((l) => [l.level, l.msg]), [[40, `uplink down: connect ECONNREFUSED 127.0.0.1:${port} (retrying with backoff)`]]);
    } finally {
      if (child.exitCode === null && child.signalCode === null) { child.kill('SIGKILL'); await exited; }
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

test.run();
