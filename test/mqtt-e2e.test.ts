import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import YAML from 'yaml';
import { SimSite } from '../sim/site';
import { type Broker, startBroker } from './fixtures/mqtt/broker';
import { type Seen, TestController } from './fixtures/mqtt/controller';
import { allOffAtSim, allOnAtSim, steadyScenario } from './fixtures/fuzz/live';
import { hashflex, until, type Proc } from './harness/cli';
import { needs } from './harness/peers';

/**
 * Switching a site from WebSocket to MQTT by config alone (README, "Uplink over MQTT"): the
 * agent started as a user starts it (`hashflex run -c FILE`) against a simulated site and a real
 * Mosquitto broker with a password file, then the same site over mqtts:// with a private CA,
 * a custom topic prefix and user name. The controller is a plain MQTT client on the topics.
 */

const SITE = 'north';
const AGENT = 'sim-board';
const BROKER_PW = 'broker-secret-5d1e77aa';
const CTL_PW = 'controller-secret-01';
const TLS = path.join(__dirname, 'fixtures/uplink/tls');

const t = needs('mosquitto', suite('mqtt end to end'));
let dir = '';
let site: SimSite;
let broker: Broker;
let ctl: TestController;
let agent: Proc | undefined;
/** every topic the controller saw a message on */
const topics = new Set<string>();

/** the sim's agent config, tuned like the reliability suites, with `uplink` replaced */
function agentDoc(uplink: Record<string, unknown>): Record<string, any> {
  const doc = JSON.parse(JSON.stringify(site.agentConfig({ storageDir: path.join(dir, 'storage') })));
  doc.agent.id = AGENT;
  // a bring-up that times out under load (timeout_ms 60) is tried again within a second, not board_retry_ms's 30 s
  doc.control = { mode: 'setpoint', setpoint_kw: 100, max_kw: 100, stagger_ms: 50, board_on_delay_ms: 0, board_retry_ms: 1000 };
  for (const b of doc.boards) Object.assign(b, { power_on_ms: 20, retry_ms: 150, poll_ms: 150, ramp_step_mhz: 100, ramp_step_ms: 10, timeout_ms: 60 });
  doc.uplink = { telemetry_ms: 200, backoff_min_ms: 100, backoff_max_ms: 300, ...uplink };
  return doc;
}

function writeConfig(name: string, doc: unknown, mode = 0o600): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, YAML.stringify(doc));
  fs.chmodSync(file, mode);
  return file;
}

const frames = (c: TestController, kind: string) => c.of(AGENT, kind).map((s: Seen) => s.frame as Record<string, any>);
const seqs = (c: TestController) => c.seen.filter((s) => s.agent === AGENT && (s.kind === 'telemetry' || s.kind === 'event')).map((s) => (s.frame as { seq: number }).seq);

async function stopAgent(sig: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  const a = agent;
  agent = undefined;
  if (!a || a.child.exitCode !== null) return a ? a.child.exitCode : null;
  a.child.kill(sig);
  return a.exited;
}

t.before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hashflex-mqtt-e2e-'));
  site = await SimSite.start({ dir, boards: 2, chips: 4, scenario: steadyScenario() });
  // persistence and a persistent controller session: frames the agent publishes while the
  // controller is still reconnecting after a broker restart are queued for it, not lost to the test
  broker = await startBroker({ users: { [AGENT]: BROKER_PW, ctl: CTL_PW }, persistence: true });
  ctl = await TestController.connect(broker.url, SITE, { username: 'ctl', password: CTL_PW, persistent: true, id: `e2e-ctl-${process.pid}` });
  ctl.client.on('message', (topic) => topics.add(topic));
});

t.after(async () => {
  await stopAgent('SIGKILL');
  await ctl?.close();
  await broker?.stop();
  await site?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

t('A config with uplink.url mqtt:// and uplink.site is all it takes: hello, retained online state and telemetry on the documented topics', async () => {
  // the broker password is the uplink token; the user name defaults to agent.id. Mode 0644 on
  // purpose: the agent must warn about it at start, without printing the secret
  const file = writeConfig('agent.yaml', agentDoc({ url: broker.url, site: SITE, token: BROKER_PW }), 0o644);
  agent = hashflex(['run', '-c', file]);
  const fail = (e: Error) => { throw new Error(`${e.message}\n${agent?.err().slice(-2000)}`); };
  await ctl.until(() => frames(ctl, 'hello').length === 1, 30_000).catch(fail);
  const hello = frames(ctl, 'hello')[0];
  assert.equal(Object.keys(hello).sort(), ['agent', 'boot', 'type', 'v', 'version']);
  assert.is(hello.agent, AGENT);
  assert.is(hello.v, 1);
  await ctl.until(() => frames(ctl, 'state').some((s) => s.online === true));
  const state = frames(ctl, 'state').find((s) => s.online === true)!;
  assert.is(state.boot, hello.boot);
  // retained: a controller connecting now finds it
  const late = await TestController.connect(broker.url, SITE, { username: 'ctl', password: CTL_PW });
  try {
    await late.until(() => late.of(AGENT, 'state').some((s) => s.retain && (s.frame as { online: boolean; boot: string }).online && (s.frame as { boot: string }).boot === hello.boot));
  } finally {
    await late.close();
  }
  await until(() => allOnAtSim(site), 'every board on at the sim', 30_000).catch(fail);
  await ctl.until(() => frames(ctl, 'telemetry').some((f) => f.boards.every((b: { on: boolean }) => b.on)), 30_000);
  const tel = frames(ctl, 'telemetry');
  const last = tel[tel.length - 1];
  assert.ok(Math.abs(last.grid.hz - 60) < 0.5, `grid.hz ${last.grid.hz}`);
  assert.equal(last.boards.map((b: { id: string }) => b.id), ['hb0', 'hb1']);
  const s = seqs(ctl);
  assert.ok(s.every((v, i) => i === 0 || v === s[i - 1] + 1), `seq strictly consecutive: ${s.join(',')}`);
  assert.is(s[0], 1);
  for (const kind of ['hello', 'state', 'telemetry']) assert.ok(topics.has(`hashflex/${SITE}/${AGENT}/${kind}`), `${kind} topic in ${[...topics].join(' ')}`);
  assert.ok([...topics].every((tp) => tp.startsWith(`hashflex/${SITE}/${AGENT}/`)), [...topics].join(' '));
});

t('The agent logs the readable secret at start as a warning, and never the secret itself', async () => {
  const err = await until(() => agent!.err().includes('chmod 640') && agent!.err(), 'the permission warning');
  const line = err.split('\n').find((l) => l.includes('chmod 640'))!;
  const rec = JSON.parse(line) as { level: number; msg: string };
  assert.is(rec.level, 40);
  assert.is(rec.msg, `${path.join(dir, 'agent.yaml')}: holds uplink.token but its mode is 0644 (readable by others); chmod 640 it`);
  assert.not.ok(err.includes(BROKER_PW), 'the broker password is in the log');
});

t('A bad MQTT config is refused before anything opens, and the running agent carries on untouched', async () => {
  const hellos = frames(ctl, 'hello').length;
  const before = seqs(ctl).length;
  for (const [name, uplink, key] of [
    ['no-site.yaml', { url: broker.url, token: BROKER_PW }, 'uplink.site'],
    ['bad-prefix.yaml', { url: broker.url, site: SITE, topic_prefix: 'hashflex/#' }, 'uplink.topic_prefix'],
    ['bad-scheme.yaml', { url: broker.url.replace('mqtt:', 'tcp:'), site: SITE }, 'uplink.url'],
  ] as const) {
    const p = hashflex(['run', '-c', writeConfig(name, agentDoc(uplink))]);
    assert.is(await p.exited, 2, `${name}: ${p.err()}`);
    assert.match(p.err(), new RegExp(`^${key.replace('.', '\\.')}: `, 'm'));
    assert.not.match(p.err(), /at .*\.ts:\d+/, 'no stack trace');
  }
  await ctl.until(() => seqs(ctl).length >= before + 3);
  assert.is(frames(ctl, 'hello').length, hellos, 'no second agent said hello');
  assert.ok(allOnAtSim(site), 'the boards were not touched');
  assert.is(agent!.child.exitCode, null);
});

t('One curtail on the site-wide topic is acked on the agent\'s ack topic once every board is off; a release brings them back', async () => {
  await ctl.command(undefined, { type: 'command', id: 'site-curtail-1', action: 'curtail' });
  await ctl.until(() => frames(ctl, 'ack').some((a) => a.id === 'site-curtail-1'));
  assert.equal(frames(ctl, 'ack').find((a) => a.id === 'site-curtail-1'), { type: 'ack', id: 'site-curtail-1', ok: true });
  assert.ok(topics.has(`hashflex/${SITE}/${AGENT}/ack`));
  await until(() => allOffAtSim(site), 'every board off at the sim');
  await ctl.until(() => frames(ctl, 'event').some((e) => e.kind === 'trip' && e.source === 'command'));
  const trip = frames(ctl, 'event').find((e) => e.kind === 'trip')!;
  assert.type(trip.latency_ms, 'number');
  assert.ok(topics.has(`hashflex/${SITE}/${AGENT}/event`));
  await ctl.until(() => frames(ctl, 'telemetry').some((f) => f.state === 'curtailed' && f.boards.every((b: { on: boolean }) => !b.on)));
  // release on the agent's own topic
  await ctl.command(AGENT, { type: 'command', id: 'rel-1', action: 'release' });
  await ctl.until(() => frames(ctl, 'ack').some((a) => a.id === 'rel-1'));
  assert.is(frames(ctl, 'ack').find((a) => a.id === 'rel-1')!.ok, true);
  await until(() => allOnAtSim(site), 'every board back on after the release', 30_000);
});

t('Through a broker restart nothing the controller has not confirmed is lost: the journal resends from the first unconfirmed seq', async () => {
  await ctl.until(() => seqs(ctl).length >= 5);
  const confirmed = Math.max(...seqs(ctl)) - 2;
  await ctl.received(AGENT, confirmed);
  // a barrier: an invalid command is refused with an ack, after the `received` before it was read
  await ctl.command(AGENT, { type: 'command', id: 'barrier', action: 'noop' });
  await ctl.until(() => frames(ctl, 'ack').some((a) => a.id === 'barrier'));
  await new Promise((r) => setTimeout(r, 50)); // the journal deletes on the next turn of the agent's loop
  await broker.kill();
  const seen = ctl.seen.length;
  const lastBefore = Math.max(...seqs(ctl));
  await new Promise((r) => setTimeout(r, 1500)); // telemetry keeps being journaled meanwhile
  await broker.start();
  const helloAt = (): number => ctl.seen.findIndex((s, i) => i >= seen && s.agent === AGENT && s.kind === 'hello');
  await ctl.until(() => helloAt() >= 0, 30_000);
  await ctl.until(() => ctl.seen.slice(helloAt()).filter((s) => s.kind === 'telemetry').length >= 10, 30_000);
  // from the new hello on (the controller's session may redeliver a frame or two from before)
  const after = ctl.seen.slice(helloAt()).filter((s) => s.agent === AGENT && (s.kind === 'telemetry' || s.kind === 'event')).map((s) => (s.frame as { seq: number }).seq);
  assert.is(after[0], confirmed + 1, `resend starts after the confirmed seq: ${after.slice(0, 8).join(',')}`);
  assert.ok(after.every((v, i) => i === 0 || v === after[i - 1] + 1), `no gap: ${after.join(',')}`);
  assert.ok(after.length > lastBefore - confirmed, 'frames from the outage came too');
  assert.is(agent!.child.exitCode, null);
});

t('SIGTERM: exit 0 and a retained offline state', async () => {
  const n = ctl.of(AGENT, 'state').length;
  assert.is(await stopAgent(), 0);
  await ctl.until(() => ctl.of(AGENT, 'state').slice(n).some((s) => (s.frame as { online: boolean }).online === false));
  // a controller that connects later still reads it
  const late = await TestController.connect(broker.url, SITE, { username: 'ctl', password: CTL_PW });
  try {
    await late.until(() => late.of(AGENT, 'state').some((s) => s.retain && (s.frame as { online: boolean }).online === false));
  } finally {
    await late.close();
  }
});

t('Over mqtts:// with uplink.ca_file beside the config, a custom topic prefix, user name and client id', async () => {
  const tls = await startBroker({
    users: { 'tls-agent': BROKER_PW, ctl: CTL_PW },
    extra: [`cafile ${TLS}/ca.pem`, `certfile ${TLS}/server-cert.pem`, `keyfile ${TLS}/server-key.pem`],
  });
  const url = `mqtts://127.0.0.1:${tls.port}`;
  const c = await TestController.connect(url, SITE, { ca: path.join(TLS, 'ca.pem'), prefix: 'acme/hf', username: 'ctl', password: CTL_PW });
  const seenTopics = new Set<string>();
  c.client.on('message', (topic) => seenTopics.add(topic));
  try {
    fs.copyFileSync(path.join(TLS, 'ca.pem'), path.join(dir, 'site-ca.pem'));
    fs.writeFileSync(path.join(dir, 'broker.token'), `${BROKER_PW}\n`, { mode: 0o600 });
    const file = writeConfig('agent-tls.yaml', agentDoc({
      url, site: SITE, token_file: 'broker.token', ca_file: 'site-ca.pem', username: 'tls-agent', client_id: 'hf-north-sim', topic_prefix: 'acme/hf',
    }));
    agent = hashflex(['run', '-c', file]);
    await c.until(() => frames(c, 'hello').length === 1 && frames(c, 'telemetry').length >= 2, 30_000)
      .catch((e: Error) => { throw new Error(`${e.message}\n${agent?.err().slice(-2000)}`); });
    for (const kind of ['hello', 'state', 'telemetry']) assert.ok(seenTopics.has(`acme/hf/${SITE}/${AGENT}/${kind}`), [...seenTopics].join(' '));
    await c.command(undefined, { type: 'command', id: 'tls-curtail', action: 'curtail' });
    await c.until(() => frames(c, 'ack').some((a) => a.id === 'tls-curtail' && a.ok === true));
    assert.ok(allOffAtSim(site));
    assert.not.ok(agent.err().includes(BROKER_PW));
    assert.not.match(agent.err(), /chmod 6[04]0/, 'mode 0600 files give no warning');
    assert.is(await stopAgent(), 0);
  } finally {
    await stopAgent('SIGKILL');
    await c.close();
    await tls.stop();
  }
});

t.run();
