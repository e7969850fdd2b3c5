import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { hashflex, tmpdir, until, type Proc } from './harness/cli';

/**
 * A technician's rehearsal of commissioning, as the README tells it: the hardware-only simulator
 * in one process, `hashflex doctor` on the agent.yaml it writes in another. The simulator holds a
 * quiet site by default (no relay trip, no frequency dip, steady generation), so the doctor passes
 * at any minute; `--scenario` plays a moving one instead.
 */
const t = suite('doctor on the hardware-only simulator');
let dir = '';
let sim: Proc | undefined;

t.before(() => {
  dir = tmpdir('hashflex-doctor-sim-');
});

t.after(async () => {
  if (sim && sim.child.exitCode === null) {
    sim.child.kill('SIGKILL');
    await sim.exited;
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

async function stop(p: Proc): Promise<void> {
  p.child.kill('SIGTERM');
  await p.exited;
}

t('hashflex sim --hardware-only holds the quiet scenario by default, and the doctor passes against it', async () => {
  const out = path.join(dir, 'quiet');
  sim = hashflex(['sim', '--hardware-only', '--out', out, '--boards', '1']);
  await until(() => sim!.out().includes('run the agent'), 'the simulated hardware', 30_000);
  assert.match(sim.out(), /scenario quiet/);
  // the simulated meter refreshes 5 times a second: a settle of 300 ms covers its 200 ms
  const doctor = hashflex(['doctor', '-c', path.join(out, 'agent.yaml'), '--settle-ms', '300']);
  const code = await doctor.exited;
  assert.is(code, 0, doctor.out() + doctor.err());
  assert.match(doctor.out(), /PASS {2}relay/);
  assert.match(doctor.out(), /PASS {2}enable hb0/);
  const logs = /^agent logs: (.+)$/m.exec(doctor.out())?.[1];
  if (logs) fs.rmSync(logs, { force: true });
  await stop(sim);
});

t('--scenario plays another one on the hardware-only simulator', async () => {
  sim = hashflex(['sim', '--hardware-only', '--out', path.join(dir, 'demo'), '--boards', '1', '--scenario', 'demo']);
  await until(() => sim!.out().includes('run the agent'), 'the simulated hardware', 30_000);
  assert.match(sim.out(), /scenario demo/);
  await stop(sim);
});

t.run();
