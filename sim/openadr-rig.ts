import { SimVtn } from './vtn';
import type { EventInput } from './vtn';
import type { ScenarioOpenAdr, ScenarioVtnEvent } from './scenarios/types';

/**
 * What the rigs that put a simulated VTN beside the agent share (`hashflex sim` with a scenario's
 * OpenADR track, `hashflex bench openadr`): the specification's special times, the agent's
 * `openadr:` config section (DESIGN.md §9) and the track of a scenario's events at the VTN.
 */

/** Definitions 3.1.0: an interval period starting 0000-01-01 starts "now" (when the VEN sees it) */
export const NOW_START = '0000-01-01T00:00:00Z';
/** Definitions 3.1.0: a duration of P9999Y is open-ended */
export const OPEN_ENDED = 'P9999Y';

/** seconds as an ISO 8601 duration ("PT90S") */
export function isoSeconds(s: number): string {
  return `PT${Math.round(s * 1000) / 1000}S`;
}

export interface OpenAdrSectionOptions {
  vtnUrl: string;
  client: { id: string; secret: string };
  programs: string[];
  pollS: number;
  /** the webhook listener, HOST:PORT */
  notifyListen?: string;
  maxPrice?: number;
}

/** the agent's `openadr:` config section (snake_case, as DESIGN.md §9) */
export function openAdrSection(o: OpenAdrSectionOptions): Record<string, unknown> {
  return {
    vtn_url: o.vtnUrl, client_id: o.client.id, client_secret: o.client.secret, ven_name: o.client.id,
    programs: o.programs, poll_s: o.pollS,
    ...(o.notifyListen ? { notify: { listen: o.notifyListen } } : {}),
    ...(o.maxPrice !== undefined ? { max_price: o.maxPrice } : {}),
  };
}

/** one event of the track as the run saw it at the VTN (seconds from the scenario's start) */
export interface VtnEventRun {
  name: string;
  program: string;
  type: ScenarioVtnEvent['type'];
  value: number | string;
  priority?: number;
  createdS: number;
  /** the start it asked for: creation + startS ("now" counts from creation) */
  startS: number;
  /** start + duration; absent: open-ended */
  endS?: number;
  deletedS?: number;
  /** the VTN refused it (the scenario's own fault, shown in the report) */
  error?: string;
}

/** the VTN's client the agent logs in as (a simulator's own, not a secret) */
const SIM_CLIENT = { id: 'sim-ven', secret: 'sim-ven-secret-1' };

/** the payload of one event, in the type's value form (SIMPLE levels and kW limits are numbers; an alert a text) */
function payloadOf(e: ScenarioVtnEvent): { type: string; values: (number | string)[] } {
  return { type: e.type, values: [e.value] };
}

/**
 * A scenario's OpenADR track on a simulated VTN of its own: the programs created before the
 * agent starts, each event created (and deleted) at its time through the VTN's operator
 * interface, which validates and notifies exactly as a utility's business logic would.
 * Times are seconds on the caller's clock (`elapsedS`), so the track runs with the site's.
 */
export class VtnTrack {
  readonly runs: VtnEventRun[] = [];
  private readonly programIds = new Map<string, string>();
  private readonly eventIds = new Map<string, string>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly pending: Promise<void>[] = [];

  private constructor(readonly vtn: SimVtn, private readonly track: ScenarioOpenAdr, private readonly elapsedS: () => number) {}

  /** the VTN listening on `host` (a free port) with the track's programs */
  static async start(track: ScenarioOpenAdr, host: string, elapsedS: () => number): Promise<VtnTrack> {
    const vtn = new SimVtn({ host, clients: [SIM_CLIENT] });
    const t = new VtnTrack(vtn, track, elapsedS);
    try {
      await vtn.listen();
      for (const name of track.programs) t.programIds.set(name, (await vtn.createProgram({ programName: name })).id);
    } catch (e) {
      await vtn.close().catch(() => {});
      throw e;
    }
    return t;
  }

  /** the agent's `openadr:` section for this VTN */
  agentSection(notifyListen?: string): Record<string, unknown> {
    return openAdrSection({ vtnUrl: this.vtn.url, client: SIM_CLIENT, programs: this.track.programs, pollS: this.track.pollS ?? 10, notifyListen, maxPrice: this.track.maxPrice });
  }

  /** schedule the events (creation and deletion) from now on the caller's clock */
  run(): void {
    const at = (s: number, fn: () => Promise<void>) => this.timers.push(setTimeout(() => this.pending.push(fn()), Math.max(0, (s - this.elapsedS()) * 1000)));
    for (const e of this.track.events) {
      at(e.atS, () => this.create(e));
      if (e.deleteAtS !== undefined) at(e.deleteAtS, () => this.remove(e));
    }
  }

  private async create(e: ScenarioVtnEvent): Promise<void> {
    const createdS = this.elapsedS();
    const startS = createdS + e.startS;
    const rec: VtnEventRun = {
      name: e.name, program: e.program, type: e.type, value: e.value, ...(e.priority !== undefined ? { priority: e.priority } : {}),
      createdS, startS, ...(e.durationS !== undefined ? { endS: startS + e.durationS } : {}),
    };
    this.runs.push(rec);
    const programID = this.programIds.get(e.program);
    if (!programID) {
      rec.error = `no program "${e.program}" in the track's programs`;
      return;
    }
    const req: EventInput = {
      programID, eventName: e.name, ...(e.priority !== undefined ? { priority: e.priority } : {}),
      // a "now" start is the specification's own, not the wall time of creation: the VEN places it when it sees it
      intervalPeriod: { start: e.startS === 0 ? NOW_START : new Date(Date.now() + e.startS * 1000).toISOString(), duration: e.durationS === undefined ? OPEN_ENDED : isoSeconds(e.durationS) },
      intervals: [{ id: 0, payloads: [payloadOf(e)] }],
    };
    try {
      this.eventIds.set(e.name, (await this.vtn.createEvent(req)).id);
    } catch (err) {
      rec.error = (err as Error).message;
    }
  }

  private async remove(e: ScenarioVtnEvent): Promise<void> {
    const rec = this.runs.find((r) => r.name === e.name);
    const id = this.eventIds.get(e.name);
    if (!rec || !id) return;
    try {
      await this.vtn.deleteEvent(id);
      rec.deletedS = this.elapsedS();
    } catch (err) {
      rec.error = (err as Error).message;
    }
  }

  /** stop the timers, let what is under way finish; the VTN stays up until close() */
  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    await Promise.allSettled(this.pending);
  }

  async close(): Promise<void> {
    await this.stop();
    await this.vtn.close();
  }
}
