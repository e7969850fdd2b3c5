import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import YAML from 'yaml';
import { PINS, type SimSite } from '../sim/site';
import type { HostMessage } from '../sim/firmata-codec';
import { AGENT_ID, allOnAtSim, liveConfig, startLiveSite, until } from './fixtures/fuzz/live';

/**
 * Crash safety: the agent as its own process (`hashflex run -c FILE`), killed with SIGKILL at
 * moments drawn from a fixed seed while it reports, some of them with confirmations held back
 * so a backlog sits in the journal, then started again. After each restart the boards must
 * come back off first (until control turns them on), and at the end the controller must hold
 * every seq from 1 to the last with no gap: the journal survived and nothing was lost.
 */
const t = suite('crash safety');
const BIN = path.join(__dirname, '..', 'bin', 'hashflex.js');
// `HASHFLEX_CRASH_KILLS=20 npm test -- crash` for a longer run than CI's (same seed: same moments)
const SEED = Number(process.env.HASHFLEX_CRASH_SEED ?? 0x5eed);
const KILLS = Number(process.env.HASHFLEX_CRASH_KILLS ?? 5);
let site: SimSite;
let dir = '';
let file = '';
let agent: ChildProcess | undefined;
let stderr = '';

/** mulberry32: a tiny seeded PRNG, so the kill moments are the same on every run */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function run(): ChildProcess {
  const c = spawn(process.execPath, [BIN, 'run', '-c', file], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, HASHFLEX_LOG: 'error' } });
  c.stderr!.on('data', (d) => { stderr += d; });
  return c;
}

async function kill(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const gone = new Promise((r) => c.once('exit', r));
  c.kill('SIGKILL');
  await gone;
}

const enablePins = () => site.boardIds.map((_, i) => PINS.enable(i));

/** the level the agent writes first to each enable pin, from the host messages the sim board hears */
function firstEnableWrites(): { levels: Map<number, number>; stop(): void } {
  const levels = new Map<number, number>();
  const pins = new Set(enablePins());
  const on = (m: HostMessage) => {
    const set = (pin: number, v: number) => { if (pins.has(pin) && !levels.has(pin)) levels.set(pin, v); };
    if (m.kind === 'pin-value') set(m.pin, m.value ? 1 : 0);
    if (m.kind === 'digital') for (let i = 0; i < 8; i++) set(m.port * 8 + i, (m.mask >> i) & 1);
  };
  site.firmata.on('message', on);
  return { levels, stop: () => site.firmata.off('message', on) };
}

t.before(async () => {
  ({ site, dir } = await startLiveSite('hashflex-crash-'));
  file = path.join(dir, 'agent.yaml');
  fs.writeFileSync(file, YAML.stringify(liveConfig(site)));
});

t.after(async () => {
  if (agent) await kill(agent);
  await site?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

t(`SIGKILL at ${KILLS} seeded moments: every restart brings the boards up off, and seq continues`, async () => {
  const ctl = site.controller!;
  const rand = rng(SEED);
  const rec = () => ctl.agents.get(AGENT_ID);
  agent = run();
  await until(() => allOnAtSim(site), 'every board on after the first start', 30_000).catch((e) => { throw new Error(`${e.message}: ${stderr}`); });
  for (let k = 0; k < KILLS; k++) {
    // half the kills happen with confirmations held back: a backlog in the journal
    ctl.autoReceive = rand() < 0.5;
    const waitMs = 200 + Math.floor(rand() * 1000);
    const seqAt = rec()!.lastSeq;
    await until(() => rec()!.lastSeq > seqAt + 2 && Date.now(), 'a few reports before the kill');
    await new Promise((r) => setTimeout(r, waitMs));
    await kill(agent);
    const lastBefore = rec()!.lastSeq;
    const hellos = rec()!.hellos;
    // StandardFirmata holds its outputs when the host goes away: the lines stay as last written
    const afterKill = enablePins().map((p) => site.firmata.pinLevel(p));
    const writes = firstEnableWrites();
    agent = run();
    await until(() => rec()!.hellos > hellos, `hello after restart ${k + 1}`, 30_000);
    await until(() => writes.levels.size === enablePins().length, `enable pins written after restart ${k + 1}`, 30_000);
    writes.stop();
    assert.equal([...writes.levels.values()], enablePins().map(() => 0), `restart ${k + 1}: the first write to every enable line is LOW (lines after the kill: ${afterKill})`);
    ctl.autoReceive = true;
    await until(() => rec()!.lastSeq > lastBefore + 2, `new reports after restart ${k + 1}`);
    await until(() => allOnAtSim(site), `boards back on under control after restart ${k + 1}`, 30_000);
  }
});

t('The controller holds every seq from 1 to the last, exactly once, across all restarts', async () => {
  const r = site.controller!.agents.get(AGENT_ID)!;
  await until(() => r.stored.length === r.lastSeq, `a complete run of seqs (have ${r.stored.length} of ${r.lastSeq})`);
  assert.is(r.stored[0], 1);
  assert.ok(r.stored.every((s, i) => s === i + 1), 'no gap and no reorder');
  assert.is(r.hellos, KILLS + 1, 'one hello per start');
  await kill(agent!);
  agent = undefined;
});

t.run();
