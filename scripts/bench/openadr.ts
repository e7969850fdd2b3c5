import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { SimSite } from '../../sim/site';
import type { Scenario, ScenarioPoint } from '../../sim/scenarios/types';
import { SimVtn } from '../../sim/vtn';
import { NOW_START, OPEN_ENDED, openAdrSection } from '../../sim/openadr-rig';
import { freePort, waitFor } from './scada';
import { stats, type Stats } from './stats';
import { HASHFLEX_SCRIPT } from './where';

/**
 * `hashflex bench openadr` (DESIGN.md §6: an OpenADR event at the VTN obeyed within poll_s + 1 s
 * by polling, within 1 s with notifications): the trip bench's rig — the real agent in its own
 * process against the simulated site, boards on ptys, a site controller over WebSocket — with an
 * `openadr:` section pointed at a simulated VTN (sim/vtn) in this process on loopback. Over and
 * over, the utility creates an ALERT_GRID_EMERGENCY event starting "now" and open-ended, and
 * deletes it once obeyed. Two series: polling only, then webhook notifications to a listener the
 * agent opens on loopback. Figures per event:
 *  - obeyed:  createEvent at the VTN -> every enable pin seen low by the simulated I/O board;
 *  - agent:   the agent's curtail received -> all boards off (the `latency_ms` of its trip event,
 *             source openadr), the part of `obeyed` after the VEN has the event;
 *  - release: deleteEvent at the VTN -> the first board powered again.
 * Loopback range: 127.29.0.0/16 (the bench 127.29.0.x; its structural test another x).
 */

export interface OpenAdrSeries {
  /** 'polling': no notify section; 'webhook': notify.listen on loopback */
  mode: 'polling' | 'webhook';
  pollS: number;
  /** DESIGN.md §6: poll_s + 1 s polling, 1 s with notifications (ms) */
  targetMs: number;
  /** the obeyed p99 within the target */
  met: boolean;
  events: number;
  /** events whose curtailment came with source openadr */
  obeyedEvents: number;
  obeyed: Stats;
  agent: Stats;
  release: Stats;
  /** webhook series: notifications the VTN delivered to the agent's listener */
  notificationsDelivered?: number;
}

export interface OpenAdrBenchResult {
  boards: number;
  transport: string;
  iterations: number;
  series: OpenAdrSeries[];
}

export interface OpenAdrBenchOptions {
  boards?: number;
  iterations?: number;
  /** the polling period of both series, s (default 2) */
  pollS?: number;
  /** the /24 of loopback the VTN (.1) and the agent's webhook listener (.2) take (default 127.29.0) */
  net?: string;
  log?: (s: string) => void;
}

const CLIENT = { id: 'bench-ven', secret: 'bench-ven-secret-1' };
const PROGRAM = 'bench-dr';

export async function benchOpenAdr(opts: OpenAdrBenchOptions = {}): Promise<OpenAdrBenchResult> {
  const boards = opts.boards ?? 4;
  const n = opts.iterations ?? 10;
  const pollS = opts.pollS ?? 2;
  const net = opts.net ?? '127.29.0';
  const log = opts.log ?? (() => {});
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hashflex-bench-'));
  process.env.HASHFLEX_LOG_FILE ??= path.join(dir, 'agent.log');
  const point: ScenarioPoint = { hz: 60, generationKw: 100, baseLoadKw: 0, relay: false };
  const steady: Scenario = { name: 'bench', description: 'steady 60 Hz, 100 kW of surplus', durationS: Infinity, at: () => point };
  const site = await SimSite.start({ dir, boards, scenario: steady, controller: true, token: 'bench-token-123', chips: 16, tickMs: 2 });
  const vtn = new SimVtn({ host: `${net}.1`, clients: [CLIENT] });
  let agent: ChildProcess | undefined;
  const stopAgent = async () => {
    if (agent && agent.exitCode === null) {
      const exited = new Promise((r) => agent!.once('exit', r));
      agent.kill('SIGTERM');
      await exited;
    }
    agent = undefined;
  };
  try {
    await vtn.listen();
    const program = await vtn.createProgram({ programName: PROGRAM });
    const ctl = site.controller!;
    const trips: { latency_ms: number; source: string }[] = [];
    ctl.on('event', (e: { kind: string; latency_ms: number; source: string }) => { if (e.kind === 'trip') trips.push(e); });
    const plant = site.boardIds.map((id) => site.plant.boards.get(id)!);
    const allOff = () => plant.every((b) => !b.enabled);
    const anyOn = () => plant.some((b) => b.enabled);
    const allOn = () => plant.every((b) => b.enabled && b.active && b.mhz > 100);
    const { agentYaml } = site.writeFiles();

    const runSeries = async (mode: OpenAdrSeries['mode']): Promise<OpenAdrSeries> => {
      const notify = mode === 'webhook' ? { listen: `${net}.2:${await freePort()}` } : undefined;
      fs.writeFileSync(agentYaml, YAML.stringify(agentDoc(site, vtn.url, pollS, notify)));
      agent = spawn(process.execPath, [HASHFLEX_SCRIPT, 'run', '-c', agentYaml], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, HASHFLEX_LOG: 'error' } });
      const proc = agent;
      const alive = (what: string) => () => {
        if (proc.exitCode !== null) throw new Error(`bench: the agent exited while waiting for ${what} (its error is above)`);
      };
      // ready once the VEN is enrolled (and, for webhooks, subscribed) and the boards mine
      const subscribed = () => vtn.subscriptions.some((s) => s.objectOperations.some((o) => o.callbackUrl.includes(notify!.listen)));
      await waitAlive(() => vtn.vens.some((v) => v.venName === CLIENT.id) && (!notify || subscribed()), 60_000, 'the VEN enrolled at the VTN', alive('enrolment'));
      // a polling figure must not be a notification's: no callback may be registered then
      if (!notify && vtn.subscriptions.length) throw new Error('bench: the polling series found a subscription at the VTN');
      const delivered0 = vtn.deliveries.length;
      const obeyedMs: number[] = [];
      const agentMs: number[] = [];
      const releaseMs: number[] = [];
      let obeyedEvents = 0;
      for (let i = 0; i < n; i++) {
        await waitAlive(allOn, 60_000, `${mode}: boards back on`, alive('boards back on'));
        // the event lands at a random phase of the VEN's poll: released right after a poll, the
        // next event would otherwise always come at the same point of the period
        await new Promise((r) => setTimeout(r, Math.random() * pollS * 1000));
        const before = trips.length;
        const t0 = performance.now();
        const event = await vtn.createEvent({
          programID: program.id, eventName: `bench-${mode}-${i}`,
          intervalPeriod: { start: NOW_START, duration: OPEN_ENDED },
          intervals: [{ id: 0, payloads: [{ type: 'ALERT_GRID_EMERGENCY', values: ['bench: shed now'] }] }],
        });
        await waitAlive(allOff, pollS * 1000 + 10_000, `${mode}: event ${i} obeyed (all boards off)`, alive('the event obeyed'));
        obeyedMs.push(performance.now() - t0);
        await waitFor(() => trips.length > before, 5000, `${mode}: the trip event of event ${i}`);
        const t = trips[trips.length - 1];
        if (t.source === 'openadr') obeyedEvents++;
        agentMs.push(t.latency_ms);
        const t1 = performance.now();
        await vtn.deleteEvent(event.id);
        await waitAlive(anyOn, pollS * 1000 + 30_000, `${mode}: event ${i} released (a board on)`, alive('the release'));
        releaseMs.push(performance.now() - t1);
      }
      await stopAgent();
      const targetMs = mode === 'polling' ? pollS * 1000 + 1000 : 1000;
      const obeyed = stats(obeyedMs);
      log(`openadr ${mode}: ${n} events, obeyed p50 ${obeyed.p50} ms, p99 ${obeyed.p99} ms (target ${targetMs} ms)`);
      return {
        mode, pollS, targetMs, met: obeyed.p99 <= targetMs, events: n, obeyedEvents, obeyed, agent: stats(agentMs), release: stats(releaseMs),
        ...(notify ? { notificationsDelivered: vtn.deliveries.slice(delivered0).filter((d) => d.url.includes(notify.listen) && d.status !== undefined && d.status < 300).length } : {}),
      };
    };

    const series = [await runSeries('polling'), await runSeries('webhook')];
    return { boards, transport: site.transport, iterations: n, series };
  } finally {
    await stopAgent();
    await vtn.close();
    await site.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** the simulated site's agent config, with full power allowed and an openadr section on the VTN */
function agentDoc(site: SimSite, vtnUrl: string, pollS: number, notify: { listen: string } | undefined) {
  const doc = JSON.parse(JSON.stringify(site.agentConfig()));
  doc.agent.id = 'bench';
  doc.control = { mode: 'setpoint', setpoint_kw: 1000, max_kw: 1000, stagger_ms: 0 };
  for (const b of doc.boards) Object.assign(b, { ramp_step_ms: 10, ramp_step_mhz: 50, power_on_ms: 50 });
  doc.openadr = openAdrSection({ vtnUrl, client: CLIENT, programs: [PROGRAM], pollS, notifyListen: notify?.listen });
  return doc;
}

/** waitFor, failing at once when `check` throws (the agent gone) instead of at the timeout */
async function waitAlive(cond: () => boolean, timeoutMs: number, what: string, check: () => void): Promise<void> {
  await waitFor(() => { check(); return cond(); }, timeoutMs, what);
}
