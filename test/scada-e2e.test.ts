import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { hashflex, tmpdir, until } from './harness/cli';
import { needs } from './harness/peers';

/**
 * The README's SCADA walk-through as an integrator runs it: the simulated hardware in one
 * process, the real agent with a `scada:` section in another, and mbpoll alone to read the
 * site, curtail it, see it curtailed and release it.
 */
const test = needs('mbpoll');
const run = promisify(execFile);

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

test('From mbpoll alone: read the site, curtail it (every board off at the reply), read it curtailed, end the curtailment', async () => {
  const dir = tmpdir('hashflex-scada-e2e-');
  const sim = hashflex(['sim', '--hardware-only', '--out', dir]);
  let agent: ReturnType<typeof hashflex> | undefined;
  try {
    await until(() => fs.existsSync(path.join(dir, 'agent.yaml')) && sim.out().includes('run the agent'), 'the simulated hardware');
    const port = await freePort();
    fs.appendFileSync(path.join(dir, 'agent.yaml'), `scada:\n  listen: 127.0.0.1:${port}\n`);
    agent = hashflex(['run', '-c', path.join(dir, 'agent.yaml')]);
    const S = ['-m', 'tcp', '-p', String(port), '-a', '1', '-0', '-1'];
    const mbpoll = async (...a: string[]) => (await run('mbpoll', [...S, ...a], { timeout: 10_000 }).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }))).stdout;
    const regs = (out: string) => [...out.matchAll(/^\[(\d+)\]:\s+(\S+)/gm)].map((m) => m[2]);
    // the agent is up and mining: version 1, state running (0), some miner power
    await until(async () => regs(await mbpoll('-t', '4', '-r', '0', '-c', '2', '127.0.0.1')).join() === '1,0', 'the agent answering, state running', 30_000);
    await until(async () => Number(regs(await mbpoll('-t', '4:float', '-B', '-r', '10', '127.0.0.1'))[0]) > 0.5, 'the miners drawing power', 60_000);
    const out = await mbpoll('-t', '0', '-r', '0', '127.0.0.1', '1');
    if (!/Written 1 references/.test(out)) throw new Error(`curtail: ${out}`);
    const after = regs(await mbpoll('-t', '4', '-r', '1', '-c', '2', '127.0.0.1'));
    if (after.join() !== '1,128') throw new Error(`state and trip bits after the curtail: ${after}`);
    const miners = Number(regs(await mbpoll('-t', '4:float', '-B', '-r', '10', '127.0.0.1'))[0]);
    if (miners !== 0) throw new Error(`miners still drawing ${miners} kW`);
    const latency = Number(regs(await mbpoll('-t', '4:float', '-B', '-r', '18', '127.0.0.1'))[0]);
    if (!(latency >= 0 && latency < 1000)) throw new Error(`last trip latency ${latency}`);
    if (!/Written 1 references/.test(await mbpoll('-t', '0', '-r', '0', '127.0.0.1', '0'))) throw new Error('release');
    await until(async () => ['0', '3'].includes(regs(await mbpoll('-t', '4', '-r', '1', '127.0.0.1'))[0]), 'ramping or running again');
  } finally {
    for (const p of [agent, sim]) {
      if (p && p.child.exitCode === null) { p.child.kill('SIGTERM'); await p.exited; }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
