import { MODELS } from '../../drivers/hashboard/models';
import type { Frame as WireFrame } from '../controller';
import type { SimSite } from '../site';
import type { Scenario, ScenarioCommand, ScenarioFault } from '../scenarios/types';
import type { VtnTrack } from '../openadr-rig';
import { MinerWatch, minerShare } from './miners';
import type { OpenAdrSample } from './openadr';
import { Recorder } from './recorder';
import { SignalWatch } from './signals';
import { attributeFaults, watchedHz, type CommandSent, type ControlSeen, type FaultRun, type RunLog, type SettledSeen, type TripSeen } from './summary';

/** the report's strip shows at most this many miners */
const STRIP_MINERS = 24;

/**
 * The scenario's command and fault tracks on the real-wire rig, and its recording for a report.
 * Commands go through the sim controller's `command()` (the agent's uplink, as in production);
 * faults flip the sim devices' switches: meter `faults.timeout`, chain `faults.garbage`, firmata
 * `unplug()`/`replug()`, a miner's `faults.down` (its API refuses connections), and for a
 * controller outage every agent connection is dropped as it arrives. Each network miner's
 * response to a curtail is read off its simulated firmware (sim/report/miners.ts). The recording reads the plant (energy, frequency, boards) every `sampleMs` and the
 * controller's telemetry and events (state, trips with their latency, faults), so it sees what a
 * test engineer at the controller would.
 */
export interface WireRunOptions {
  site: SimSite;
  scenario: Scenario;
  agentId: string;
  tripHz: number;
  maxKw: number;
  sampleMs?: number;
  /** the scenario's OpenADR track on its simulated VTN, with the agent's simple_levels and max_price */
  openadr?: { track: VtnTrack; simpleLevels: Record<string, number>; maxPrice?: number };
}

export class WireRun {
  readonly recorder: Recorder;
  readonly signals: SignalWatch;
  private readonly trips: TripSeen[] = [];
  private readonly control: ControlSeen[] = [];
  private readonly commands: CommandSent[] = [];
  private readonly faults: (FaultRun & { counters?: Record<string, number>; frames?: number })[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly sampler: NodeJS.Timeout;
  private outage = false;
  private lastT = 0;
  private readonly wallT0: number;
  private readonly pending: Promise<void>[] = [];
  private readonly watch: MinerWatch;
  private readonly settled: SettledSeen[] = [];
  /** the controller's target and state, on each change (the OpenADR events' response) */
  private readonly targets: OpenAdrSample[] = [];

  constructor(private readonly o: WireRunOptions) {
    const { site, scenario } = o;
    this.wallT0 = Date.now() - site.elapsedS * 1000;
    const maxMhz = MODELS.bm1366.defaultMhz;
    let capacity = 0;
    for (const b of site.plant.boards.values()) capacity += (b.chips * b.wattsPerChip(maxMhz)) / 1000;
    for (const m of site.minerPlan) capacity += m.spec.ratedKw;
    const wallT0 = this.wallT0;
    this.watch = new MinerWatch((site.fleet?.miners ?? []).map((m) => ({
      id: m.plan.id, family: m.plan.family, host: m.host, machine: m.machine,
      stopAfter: (tS: number) => { const w = m.stopSince(wallT0 + tS * 1000); return w === undefined ? undefined : (w - wallT0) / 1000; },
    })));
    this.recorder = new Recorder(Math.min(o.maxKw, capacity));
    this.signals = new SignalWatch(scenario, watchedHz(scenario, o.tripHz));
    const ctl = site.controller;
    ctl?.on('event', (f: WireFrame) => this.onEvent(f));
    // telemetry stamped during an outage and delivered later: the journal did its job
    ctl?.on('telemetry', (f: WireFrame) => {
      const tS = this.tOf(f.ts);
      for (const x of this.faults) if (x.kind === 'controller-outage' && tS >= x.atS && tS < x.untilS) x.frames = (x.frames ?? 0) + 1;
    });
    ctl?.on('connection', (id: string) => { if (this.outage) ctl.drop(id); });
    const at = (s: number, fn: () => void) => this.timers.push(setTimeout(fn, Math.max(0, s * 1000 - site.elapsedS * 1000)));
    for (const c of scenario.commands ?? []) at(c.atS, () => this.pending.push(this.command(c)));
    for (const f of scenario.faults ?? []) {
      at(f.atS, () => this.pending.push(this.fault(f, true)));
      at(f.atS + f.durationS, () => this.pending.push(this.fault(f, false)));
    }
    o.openadr?.track.run();
    this.sampler = setInterval(() => this.sample(), o.sampleMs ?? 100);
  }

  private tOf(iso: unknown): number {
    const ms = typeof iso === 'string' ? Date.parse(iso) : NaN;
    return Number.isFinite(ms) ? (ms - this.wallT0) / 1000 : this.o.site.elapsedS;
  }

  private onEvent(f: WireFrame): void {
    const tS = this.tOf(f.ts);
    const source = String(f.source ?? '');
    if (f.kind === 'trip') this.trips.push({ tS, source, latencyMs: Number(f.latency_ms ?? 0) });
    else if (f.kind === 'settled') {
      this.settled.push({
        tS, source, ok: f.ok === true, ms: Number(f.ms ?? 0),
        ...(typeof f.miners_kw === 'number' ? { minersKw: f.miners_kw } : {}), ...(typeof f.grid_drop_kw === 'number' ? { gridDropKw: f.grid_drop_kw } : {}),
      });
    }
    // the protocol's site events; other kinds (the ledger's, say) are not the site's behaviour
    else if (f.kind === 'release' || f.kind === 'fault' || f.kind === 'recover') this.control.push({ tS, kind: String(f.kind), source, ...(typeof f.detail === 'string' ? { detail: f.detail } : {}) });
  }

  private latest(): WireFrame | undefined {
    return this.o.site.controller?.latest(this.o.agentId);
  }

  private sample(): void {
    const { site } = this.o;
    const tS = site.elapsedS;
    const p = site.plant;
    this.signals.feed(tS, p.hz, p.relayActive);
    if (this.watch.size) this.watch.sample(tS);
    const t = this.latest() as { state?: string; miners?: { target_kw?: number } } | undefined;
    const maxMhz = MODELS.bm1366.defaultMhz;
    this.recorder.add({
      tS, gridKw: p.gridKw(), minersKw: p.minersKw(), generationKw: p.generationKw, loadKw: p.baseLoadKw, hz: p.hz, relay: p.relayActive,
      boards: [
        ...[...p.boards.values()].map((b) => (b.enabled && b.active ? b.mhz / maxMhz : 0)),
        ...(site.fleet?.miners ?? []).slice(0, STRIP_MINERS).map((m) => minerShare(m.machine)),
      ],
      state: t?.state ?? 'starting', ...(t?.miners?.target_kw !== undefined ? { targetKw: t.miners.target_kw } : {}),
    }, Math.max(0, tS - this.lastT));
    if (this.o.openadr) this.noteTarget(tS, t?.state ?? 'starting', t?.miners?.target_kw);
    this.lastT = tS;
  }

  private noteTarget(tS: number, state: string, targetKw: number | undefined): void {
    const last = this.targets.at(-1);
    if (last && last.state === state && last.targetKw === targetKw) return;
    // bounded like the recorder's state changes: a hunting target still keeps the first 50,000
    if (this.targets.length < 50_000) this.targets.push({ tS, state, ...(targetKw !== undefined ? { targetKw } : {}) });
  }

  private async command(c: ScenarioCommand): Promise<void> {
    const ctl = this.o.site.controller;
    const rec: CommandSent = { tS: this.o.site.elapsedS, action: c.action, ...(c.action === 'set_power' ? { kw: c.kw, ttlS: c.ttlS } : {}), delivered: false };
    this.commands.push(rec);
    if (!ctl || this.outage) return;
    if (c.action === 'curtail') this.watch.curtail(rec.tS);
    else if (c.action === 'release') this.watch.release();
    try {
      const ack = await ctl.command(this.o.agentId, c.action, c.action === 'set_power' ? { kw: c.kw, ttl_s: c.ttlS } : undefined);
      rec.delivered = true;
      rec.ok = ack.ok;
      if (ack.error) rec.error = ack.error;
    } catch (e) {
      rec.error = (e as Error).message;
    }
  }

  private links(board: string): Record<string, number> {
    const t = this.latest() as { links?: Record<string, Record<string, number>> } | undefined;
    return t?.links?.[board] ?? {};
  }

  private async fault(f: ScenarioFault, on: boolean): Promise<void> {
    const { site } = this.o;
    const target = f.target ?? 'hb0';
    if (on) this.faults.push({ kind: f.kind, ...(f.kind === 'board-garbage' || f.kind === 'miner-down' ? { target } : {}), atS: f.atS, untilS: f.atS + f.durationS, seen: [], counters: this.links(target) });
    const run = this.faults.find((x) => x.atS === f.atS && x.kind === f.kind);
    switch (f.kind) {
      case 'meter-silence': site.meter.faults.timeout = on; break;
      case 'board-garbage': {
        const chain = site.chains[site.boardIds.indexOf(target)];
        if (chain) chain.faults.garbage = on;
        if (!on && run?.counters) {
          // the agent's link counters for that chain, as its telemetry reports them
          const now = this.links(target);
          const d = (k: string) => (now[k] ?? 0) - (run.counters![k] ?? 0);
          run.seen.push(`link ${target}: ${d('resyncs')} resyncs, ${d('crcErrors')} CRC errors`);
        }
        break;
      }
      case 'io-loss': await (on ? site.firmata.faults.unplug() : site.firmata.faults.replug()); break;
      case 'controller-outage':
        this.outage = on;
        if (on) site.controller?.drop();
        break;
      case 'miner-down': {
        const m = site.fleet?.get(target);
        if (m) m.machine.faults.down = on;
        break;
      }
    }
  }

  /** stop the tracks and the sampler; the RunLog for the summary and report */
  async finish(): Promise<RunLog> {
    for (const t of this.timers) clearTimeout(t);
    clearInterval(this.sampler);
    await this.o.openadr?.track.stop();
    await Promise.allSettled(this.pending);
    this.recorder.flush();
    attributeFaults(this.faults, this.trips, this.control);
    for (const f of this.faults) {
      if (f.kind === 'controller-outage') f.seen.push(`${f.frames ?? 0} telemetry frames stamped during the outage reached the controller afterwards`);
    }
    return {
      rig: 'wire', scenario: this.o.scenario, durationS: this.o.site.elapsedS, boards: this.o.site.boardIds, tripHz: this.o.tripHz,
      recorder: this.recorder, signals: this.signals, trips: this.trips, control: this.control, commands: this.commands,
      faults: this.faults.map(({ counters: _c, frames: _f, ...f }) => f),
      ...(this.o.openadr ? { openadr: { events: this.o.openadr.track.runs, samples: this.targets, maxKw: this.o.maxKw, simpleLevels: this.o.openadr.simpleLevels, ...(this.o.openadr.maxPrice !== undefined ? { maxPrice: this.o.openadr.maxPrice } : {}) } } : {}),
      ...(this.watch.size ? { miners: this.watch.result(), minerStrip: (this.o.site.fleet?.miners ?? []).slice(0, STRIP_MINERS).map((m) => m.plan.id), settled: this.settled } : {}),
    };
  }
}
