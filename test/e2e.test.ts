import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import YAML from 'yaml';
import { startSimController, type SimController } from '../sim/controller';
import { hashflex, tmpdir, until, type Proc } from './harness/cli';
import { needs } from './harness/peers';

/**
 * The walking skeleton end to end, as a test engineer runs it: the hardware-only simulator and
 * the agent as two separate processes, talking through real ptys (or raw TCP), Modbus TCP and
 * a WebSocket controller.
 */
function e2e(transport: 'pty' | 'tcp') {
  // over ptys it needs socat (skipped without it); over TCP it needs nothing
  const t = transport === 'pty' ? needs('socat', suite(`e2e over ${transport}`)) : suite(`e2e over ${transport}`);
  const env = transport === 'tcp' ? { HASHFLEX_NO_SOCAT: '1' } : {};
  let dir = '';
  let sim: Proc | undefined;
  let agent: Proc | undefined;
  let controller: SimController | undefined;

  t.before(async () => {
    dir = tmpdir('hashflex-e2e-');
    controller = await startSimController({ token: 'e2e-token-123' });
  });

  t.after(async () => {
    for (const p of [agent, sim]) if (p && p.child.exitCode === null) { p.child.kill('SIGKILL'); await p.exited; }
    await controller?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  t('the hardware-only simulator writes sim.json and an agent.yaml that hashflex run accepts', async () => {
    sim = hashflex(['sim', '--hardware-only', '--out', dir, '--boards', '2'], env);
    await until(() => fs.existsSync(path.join(dir, 'agent.yaml')) && sim!.out().includes('run the agent'), 'sim files');
    const endpoints = JSON.parse(fs.readFileSync(path.join(dir, 'sim.json'), 'utf8'));
    assert.match(endpoints.meter.tcp, /^127\.0\.0\.1:\d+$/);
    assert.is(endpoints.meter.model, 'sdm630');
    assert.is(endpoints.boards.length, 2);
    for (const b of [...endpoints.boards, endpoints.io]) {
      if (transport === 'pty') assert.ok(fs.lstatSync(b.path).isSymbolicLink(), `${b.path} is a pty link`);
      else assert.match(b.tcp, /^127\.0\.0\.1:\d+$/);
    }
    if (transport === 'tcp') assert.match(sim.out(), /socat not found: serial devices are served over raw TCP/);
  });

  t('the agent reports telemetry with the meter frequency to a WebSocket controller', async () => {
    const file = path.join(dir, 'agent.yaml');
    const config = YAML.parse(fs.readFileSync(file, 'utf8'));
    config.uplink = { url: controller!.url, token: 'e2e-token-123' };
    config.control.stagger_ms = 200;
    fs.writeFileSync(file, YAML.stringify(config));
    agent = hashflex(['run', '-c', file], env);
    const hello = await until(() => controller!.agents.get('sim-board')?.hello, 'hello', 30_000);
    assert.is(hello.v, 1);
    const tel = await until(() => {
      const f = controller!.latest('sim-board') as { grid: { hz: number }; boards: unknown[] } | undefined;
      return f && f.grid.hz > 0 ? f : undefined;
    }, 'telemetry with a frequency', 30_000);
    assert.ok(Math.abs(tel.grid.hz - 60) < 0.5, `grid frequency ${tel.grid.hz}`);
    assert.is(tel.boards.length, 2);
  });

  t('a curtail command turns every board off before it is acknowledged', async () => {
    const ack = await controller!.command('sim-board', 'curtail');
    assert.is(ack.ok, true);
    const ev = await until(() => controller!.agents.get('sim-board')?.events.find((e) => e.kind === 'trip' && e.source === 'command'), 'trip event');
    assert.type(ev.latency_ms, 'number');
    const tel = await until(() => {
      const f = controller!.latest('sim-board') as { state: string; boards: { on: boolean }[] } | undefined;
      return f?.state === 'curtailed' ? f : undefined;
    }, 'curtailed telemetry');
    assert.ok(tel.boards.every((b) => !b.on));
  });

  t('SIGTERM stops both processes cleanly and leaves no pty or socat behind', async () => {
    agent!.child.kill('SIGTERM');
    assert.is(await agent!.exited, 0, agent!.err());
    sim!.child.kill('SIGTERM');
    assert.is(await sim!.exited, 0, sim!.err());
    const left = fs.readdirSync(dir).filter((f) => f.startsWith('hb') || f.startsWith('io'));
    assert.equal(left, []);
    let socats = '';
    try { socats = execFileSync('pgrep', ['-af', `socat.*${dir}`], { encoding: 'utf8' }); } catch { /* none: pgrep exits 1 */ }
    assert.is(socats.trim(), '');
  });

  return t;
}

e2e('pty').run();
e2e('tcp').run();
