import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { MODELS } from '../drivers/hashboard/models';
import { startSimController, type SimController } from './controller';
import { startSimFirmata, type SimFirmata } from './firmata';
import { simBoard, startSimChain, type SimChain } from './hashboard';
import { startSimMeter, type SimMeter } from './meter';
import { fleetPlan, startFleet, type Family, type FleetMiner, type SimFleet } from './miners/fleet';
import { Plant } from './plant';
import type { Scenario } from './scenarios/types';
import { hasSocat, openWire, type SimWire, type WireEndpoint } from './wire';

/**
 * A whole simulated site on the far side of real wires: an SDM630 grid meter on Modbus TCP,
 * N hashboard chains and a StandardFirmata I/O board on ptys (or raw TCP without socat), network
 * miners of the three firmware families each on a loopback address of its own (sim/miners/fleet.ts),
 * a plant tying them together, a scenario driving it, and optionally a site controller.
 * It knows the agent only through the files it writes: sim.json (endpoints) and agent.yaml.
 */
export interface SimSiteOptions {
  dir: string;
  /** hashboard chains (default 4; 0 with miners: a site of network miners only) */
  boards?: number;
  chips?: number;
  /** network miners, the families in turn (default none) */
  miners?: number;
  /** of these firmware families only (default every family) */
  families?: readonly Family[];
  scenario: Scenario;
  /** run a site controller (WebSocket) for the agent to report to */
  controller?: boolean;
  token?: string;
  usePty?: boolean;
  /** plant update period (ms) */
  tickMs?: number;
  /** telemetry frames the controller keeps per agent (default: the controller's, 100,000) */
  controllerKeep?: number;
  /**
   * the grid meter's measurements per second (default 5, as sim/meter's `refreshHz`): its
   * registers change only this often; also settable while running as `site.meter.refreshHz`
   */
  meterRefreshHz?: number;
}

/** Pin plan of the simulated I/O board, as a technician would wire it. */
export const PINS = {
  relay: 7,
  enable: (i: number) => 22 + i, // a Mega's digital bank: room for 16+ boards
  fanPwm: [9, 10] as const,
  fanTach: ['A0', 'A1'] as const,
  /** one thermistor per board, on the board's heat sink */
  thermistor: (i: number) => `A${2 + i}`,
};

/**
 * The simulated site's control.max_kw (both rigs): 12 kW, or what the site can draw where its
 * network miners make that more (boards at full frequency plus every miner's nameplate, rounded up).
 */
export function siteMaxKw(boards: number, chips: number, plan: readonly FleetMiner[]): number {
  if (!plan.length) return 12;
  const boardKw = (boards * chips * simBoard('capacity', 'bm1366', chips).wattsPerChip(MODELS.bm1366.defaultMhz)) / 1000;
  const minerKw = plan.reduce((kw, m) => kw + m.spec.ratedKw, 0);
  return Math.max(12, Math.ceil(boardKw + minerKw));
}

export class SimSite {
  readonly plant = new Plant();
  readonly boardIds: string[];
  meter!: SimMeter;
  chains: SimChain[] = [];
  firmata!: SimFirmata;
  controller?: SimController;
  /** the network miners, served for real (none without `miners`) */
  fleet?: SimFleet;
  readonly minerPlan: FleetMiner[];
  private wires: SimWire[] = [];
  private ioWire!: SimWire;
  private boardWires: SimWire[] = [];
  private tick?: NodeJS.Timeout;
  private t0 = Date.now();
  readonly transport: 'pty' | 'tcp';

  private constructor(readonly opts: SimSiteOptions) {
    this.boardIds = Array.from({ length: opts.boards ?? 4 }, (_, i) => `hb${i}`);
    this.minerPlan = fleetPlan(opts.miners ?? 0, opts.families);
    this.transport = (opts.usePty ?? hasSocat()) ? 'pty' : 'tcp';
  }

  static async start(opts: SimSiteOptions): Promise<SimSite> {
    const site = new SimSite(opts);
    try {
      await site.open();
    } catch (e) {
      await site.close();
      throw e;
    }
    return site;
  }

  /** seconds of scenario time since start */
  get elapsedS(): number {
    return (Date.now() - this.t0) / 1000;
  }

  private async open(): Promise<void> {
    const { dir, scenario } = this.opts;
    const chips = this.opts.chips ?? 100;
    fs.mkdirSync(dir, { recursive: true });
    const usePty = this.transport === 'pty';
    this.applyScenario(0);

    for (const id of this.boardIds) {
      const wire = await openWire(id, dir, usePty);
      this.wires.push(wire);
      this.boardWires.push(wire);
      const board = simBoard(id, 'bm1366', chips);
      this.plant.boards.set(id, board);
      this.chains.push(startSimChain({ wire, board, model: 'bm1366', chips }));
    }
    this.ioWire = await openWire('io', dir, usePty);
    this.wires.push(this.ioWire);
    this.firmata = startSimFirmata({
      wire: this.ioWire,
      plant: this.plant,
      enable: Object.fromEntries(this.boardIds.map((id, i) => [id, PINS.enable(i)])),
      fans: this.fans(),
      relayPin: PINS.relay,
      relayActive: 'low',
      thermistors: this.thermistors().map((t) => ({ id: t.id, pin: t.pin, boardId: t.board })),
    });
    if (this.minerPlan.length) {
      this.fleet = await startFleet(this.minerPlan);
      for (const m of this.fleet.miners) this.plant.machines.set(m.plan.id, m.machine);
    }
    this.meter = await startSimMeter({ plant: this.plant, model: 'sdm630', unit: 1, refreshHz: this.opts.meterRefreshHz ?? this.opts.scenario.site?.meterHz });
    if (this.opts.controller) this.controller = await startSimController({ token: this.opts.token, ...(this.opts.controllerKeep ? { keep: this.opts.controllerKeep } : {}) });

    const tickMs = this.opts.tickMs ?? 20;
    let last = Date.now();
    this.tick = setInterval(() => {
      const now = Date.now();
      this.applyScenario((now - this.t0) / 1000);
      this.plant.tick(now - last);
      last = now;
    }, tickMs);
    void scenario;
  }

  private thermistors() {
    return this.boardIds.map((id, i) => ({ id: `t${i}`, pin: PINS.thermistor(i), board: id }));
  }

  private fans() {
    return PINS.fanPwm.map((pwm_pin, i) => ({ id: `fan${i}`, pwm_pin, tach_pin: PINS.fanTach[i] }));
  }

  private applyScenario(tS: number): void {
    const p = this.opts.scenario.at(tS);
    this.plant.hz = p.hz;
    this.plant.generationKw = p.generationKw;
    this.plant.baseLoadKw = p.baseLoadKw;
    this.plant.relayActive = p.relay;
  }

  /** DESIGN.md §2: endpoints of every simulated device */
  endpoints() {
    const ep = (e: WireEndpoint) => ('path' in e ? { path: e.path } : { tcp: e.tcp });
    return {
      meter: { tcp: this.meter.tcp, unit: this.meter.unit, model: this.meter.model },
      boards: this.boardIds.map((id, i) => ({ id, ...ep(this.boardWires[i].endpoint) })),
      io: ep(this.ioWire.endpoint),
      ...(this.fleet ? { miners: this.fleet.miners.map((m) => ({ id: m.plan.id, driver: m.plan.family, host: m.host, ports: { ...m.ports } })) } : {}),
      ...(this.controller ? { controller: { url: this.controller.url } } : {}),
      transport: this.transport,
    };
  }

  /** A config for `hashflex run` that drives this site. */
  agentConfig(extra: { uplinkUrl?: string; token?: string; storageDir?: string; local?: string; openadr?: Record<string, unknown> } = {}): Record<string, unknown> {
    const serial = (e: WireEndpoint) => ('path' in e ? { path: e.path, baud: 115200 } : { tcp: e.tcp });
    const url = extra.uplinkUrl ?? this.controller?.url;
    return {
      agent: { id: 'sim-board' },
      meter: { model: 'sdm630', tcp: this.meter.tcp, unit: 1, poll_ms: 50, stale_ms: 1000 },
      boards: this.boardIds.map((id, i) => ({
        id, model: 'bm1366', serial: serial(this.boardWires[i].endpoint), chips: this.opts.chips ?? 100, enable_pin: PINS.enable(i),
      })),
      io: 'path' in this.ioWire.endpoint ? { path: this.ioWire.endpoint.path, baud: 57600 } : { tcp: this.ioWire.endpoint.tcp },
      fans: this.fans(),
      thermistors: this.thermistors(),
      ...(this.fleet ? { miners: this.fleet.miners.map((m) => this.minerConfig(m)) } : {}),
      grid: { nominal_hz: this.opts.scenario.nominalHz ?? 60, underfrequency: { trip_hz: (this.opts.scenario.nominalHz ?? 60) - 0.3, sustain_ms: 100, release: 'auto', hold_s: 10 }, relay: { pin: PINS.relay, active: 'low' } },
      control: { mode: 'surplus', max_kw: this.maxKw(), margin_kw: 0.2 },
      ...(url ? { uplink: { url, ...(extra.token ?? this.opts.token ? { token: extra.token ?? this.opts.token } : {}) } } : {}),
      ...(extra.local ? { local: { listen: extra.local } } : {}),
      ...(extra.openadr ? { openadr: extra.openadr } : {}),
      storage: { dir: extra.storageDir ?? path.join(this.opts.dir, 'storage') },
    };
  }

  /** control.max_kw of the agent's config (the scenario's, else siteMaxKw) */
  maxKw(): number {
    return this.opts.scenario.site?.maxKw ?? siteMaxKw(this.boardIds.length, this.opts.chips ?? 100, this.minerPlan);
  }

  /**
   * One miner's config entry: its address and driver (`auto` for every third of a family: the
   * plan's configDriver), its nameplate (stock Antminer firmware
   * reports no power), and ports only where the firmware's own could not be bound (the web port
   * 80 without root). The firmware's factory passwords: none to give.
   */
  private minerConfig(m: SimFleet['miners'][number]): Record<string, unknown> {
    const own: Record<string, number> = { api: 4028, web: 80, v3: 4433, grpc: 50051 };
    const ports = Object.fromEntries(Object.entries(m.ports).filter(([k, v]) => v !== undefined && v !== own[k]));
    return { id: m.plan.id, host: m.host, driver: m.plan.configDriver, rated_kw: m.plan.spec.ratedKw, ...(Object.keys(ports).length ? { ports } : {}) };
  }

  /** Write DIR/sim.json and DIR/agent.yaml. */
  writeFiles(extra: Parameters<SimSite['agentConfig']>[0] = {}): { simJson: string; agentYaml: string } {
    const simJson = path.join(this.opts.dir, 'sim.json');
    const agentYaml = path.join(this.opts.dir, 'agent.yaml');
    fs.writeFileSync(simJson, JSON.stringify(this.endpoints(), null, 2) + '\n');
    fs.writeFileSync(agentYaml, `# written by hashflex sim --hardware-only; run: hashflex run -c ${agentYaml}\n${YAML.stringify(this.agentConfig(extra))}`);
    return { simJson, agentYaml };
  }

  async close(): Promise<void> {
    if (this.tick) clearInterval(this.tick);
    await Promise.allSettled([
      ...this.chains.map((c) => c.close()),
      this.firmata?.close(),
      this.meter?.close(),
      this.controller?.close(),
      this.fleet?.close(),
    ]);
    await Promise.allSettled(this.wires.map((w) => w.close()));
  }
}
