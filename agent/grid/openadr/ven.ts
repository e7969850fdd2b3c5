import type { Clock, Timer } from '../../clock';
import type { Logger } from '../../log';
import type { CheckResult } from '../../doctor/types';
import { TokenSource } from './auth';
import { venChecks } from './check';
import { VtnClient, VtnError } from './client';
import { NO_DIRECTIVE, sameDirective, type OpenAdrDirective, type SiteReading } from './directive';
import { enrol, followed } from './enrol';
import { Notifications } from './notifications';
import { ReportBook } from './reports';
import { resolve } from './resolve';
import type { OpenAdrSettings } from './settings';
import type { Notification, OadrEvent, Program } from './spec';
import { VenStore, type HeldEvent, type VenState } from './store';
import { forThisVen } from './targets';
import { makeTransport, type Transport } from './transport';

/**
 * The agent as a VEN (DESIGN.md §9): enrolled at the VTN, it polls the events of the programs it
 * follows every poll_s (always; a webhook notification only brings the next poll forward),
 * keeps the events in force on disk, turns them into one OpenAdrDirective for the site whenever
 * they or their intervals change, and sends the reports they ask for, keeping the ones the VTN
 * did not take until it does. A VTN that is away, refuses, or answers garbage is a fault in
 * status(): the events last known stay in force on their own terms, nothing else is done.
 */

export interface VenDeps {
  clock: Clock;
  /** a pino child (namespace openadr) */
  log: Logger;
  /** storage.dir: the VEN keeps openadr/state.json there */
  dataDir: string;
  /** the site's figures now (the same as telemetry), for reports */
  read(): SiteReading;
  /** control.max_kw */
  maxKw: number;
  /** the directive changed */
  onDirective(d: OpenAdrDirective): void;
  fetch?: typeof fetch;
}

export interface VenStatus {
  connected: boolean;
  ven_id?: string;
  programs: string[];
  last_poll_at?: number;
  fault?: string;
  notifications: 'webhook' | 'mqtt' | 'none';
  active: OpenAdrDirective['active'];
  /** reports made and not yet accepted by the VTN */
  pending_reports: number;
  reports_sent: number;
}

/** site readings for reports are taken this often (ms) */
export const SAMPLE_MS = 1000;
/** a gap between readings longer than this is not credited to any report interval */
const MAX_GAP_MS = 5 * SAMPLE_MS;
/** reports kept for a VTN that is away; beyond it the oldest go (a month of hourly reports of three types) */
export const MAX_PENDING = 2000;
/** the longest single wait for an interval boundary (a real setTimeout overflows past 24.8 days) */
const MAX_WAIT_MS = 3600_000;
/** the VEN object is read again after this many polls: targets the business logic grants it later apply */
const REENROL_POLLS = 20;

export class Ven {
  private readonly transport: Transport;
  private readonly client: VtnClient;
  private readonly auth: TokenSource;
  private readonly store: VenStore;
  private state: VenState = { events: [], pending: [], reports: {} };
  private book?: ReportBook;
  private directive: OpenAdrDirective = NO_DIRECTIVE;
  private timers: Timer[] = [];
  private changeTimer?: Timer;
  private polling?: Promise<void>;
  private again = false;
  private sending?: Promise<void>;
  private connected = false;
  private fault?: string;
  private lastPollAt?: number;
  private programs: Program[] = [];
  private missing: string[] = [];
  private enrolled?: { venId: string; targets: string[]; polls: number };
  private readonly notifications: Notifications;
  private reportsSent = 0;
  private readonly logged = new Set<string>();
  private stopped = false;

  constructor(private readonly s: OpenAdrSettings, private readonly d: VenDeps) {
    this.transport = makeTransport({ clock: d.clock, timeoutMs: s.timeoutMs ?? 10_000, caFile: s.caFile, fetch: d.fetch });
    this.auth = new TokenSource({ vtnUrl: s.vtnUrl, tokenUrl: s.tokenUrl, clientId: s.clientId, clientSecret: s.clientSecret, send: this.transport.send, clock: d.clock, log: d.log });
    this.client = new VtnClient(s.vtnUrl, this.transport.send, this.auth);
    this.store = new VenStore(d.dataDir);
    this.notifications = new Notifications({
      settings: s, client: this.client, auth: this.auth, log: d.log,
      onNotification: (n) => this.notified(n),
      once: (key, fields, msg) => this.once(key, 'warn', fields, msg),
    });
  }

  /** restore the events kept on disk (obeyed at once), start polling; never rejects */
  async start(): Promise<void> {
    const { state, problem } = this.store.load(this.d.clock.now());
    if (problem) this.d.log.warn({ problem }, 'openadr state not restored');
    this.state = state;
    const book = new ReportBook({ venName: this.s.venName, resourceName: this.s.resourceName, log: this.d.log }, state.reports);
    book.track(state.events);
    this.book = book;
    if (state.events.length) this.d.log.info({ events: state.events.length }, 'openadr events restored from disk');
    this.recompute();
    // the first reading now: the span up to the next one is credited to the reports
    this.tick();
    this.timers.push(this.d.clock.setInterval(() => void this.poll(), this.s.pollS * 1000));
    this.timers.push(this.d.clock.setInterval(() => this.tick(), SAMPLE_MS));
    await this.notifications.open();
    await this.poll();
  }

  /** safe without a start (the doctor only checks): then nothing is written */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) t.cancel();
    this.changeTimer?.cancel();
    await this.settled();
    await this.notifications.close();
    if (this.book) {
      this.save();
      await this.store.flush();
    }
    this.transport.close();
  }

  /** the poll and the report sending in flight have finished (stop, tests) */
  async settled(): Promise<void> {
    while (this.polling || this.sending) await Promise.allSettled([this.polling, this.sending]);
  }

  status(): VenStatus {
    return {
      connected: this.connected,
      ...(this.enrolled ? { ven_id: this.enrolled.venId } : {}),
      programs: this.programs.map((p) => p.programName),
      ...(this.lastPollAt !== undefined ? { last_poll_at: this.lastPollAt } : {}),
      ...(this.fault ?? this.store.writeError ? { fault: this.fault ?? this.store.writeError } : {}),
      notifications: this.notifications.kind,
      active: this.directive.active,
      pending_reports: this.state.pending.length,
      reports_sent: this.reportsSent,
    };
  }

  /** the directive in force now */
  current(): OpenAdrDirective {
    return this.directive;
  }

  /** `hashflex doctor`: token, VEN object, programs readable */
  check(): Promise<CheckResult[]> {
    return venChecks(this.s, this.client, this.auth, () => this.d.clock.now());
  }

  /** poll now (a notification, the timer, start); a poll asked for during one runs right after it */
  poll(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.polling) {
      this.again = true;
      return this.polling;
    }
    this.polling = (async () => {
      do {
        this.again = false;
        await this.cycle();
      } while (this.again && !this.stopped);
    })().finally(() => { this.polling = undefined; });
    return this.polling;
  }

  private async cycle(): Promise<void> {
    try {
      const enrolProblem = await this.enrol();
      const targets = this.enrolled?.targets ?? [];
      const { programs, missing } = followed(await this.client.programs(targets), this.s.programs);
      const found: { event: OadrEvent; program: Program }[] = [];
      for (const program of programs) {
        const mark = this.client.rejected.length;
        const listed = await this.client.events(program.id, targets);
        // an event the VTN now sends unreadable: the version held stays, on its own terms
        for (const bad of this.client.rejected.slice(mark)) {
          const kept = this.state.events.find((h) => h.event.id === bad.id && h.event.programID === program.id);
          if (kept) found.push({ event: kept.event, program });
        }
        for (const event of listed) {
          const why = event.programID !== program.id ? `belongs to program ${event.programID}` : forThisVen(event.targets, this.s.venName, this.s.resourceName);
          if (why) this.once(`skip/${event.id}/${why}`, 'debug', { event: event.id, why }, 'openadr event not for this VEN');
          else found.push({ event, program });
        }
      }
      this.reportRejected();
      if (missing.join() !== this.missing.join() && missing.length) this.d.log.warn({ missing }, 'openadr programs not found at the VTN');
      this.missing = missing;
      this.programs = programs;
      this.hold(found);
      this.lastPollAt = this.d.clock.now();
      this.connected = true;
      this.setFault(enrolProblem ?? (missing.length ? `programs not found at the VTN: ${missing.join(', ')}` : undefined));
      await this.sendPending();
      if (!this.stopped && this.enrolled) await this.notifications.ensure(this.enrolled.venId, programs);
    } catch (e) {
      this.reportRejected();
      this.connected = false;
      this.setFault(describe(e));
    }
    this.save();
  }

  /**
   * The VEN object and resource found or made, on the first poll and every REENROL_POLLS after.
   * A VTN that refuses them (some provision VEN objects by the business logic alone) does not
   * stop the events from being read and obeyed: the refusal is returned as the fault to show.
   */
  private async enrol(): Promise<string | undefined> {
    if (this.enrolled && this.enrolled.polls++ < REENROL_POLLS) return undefined;
    try {
      const e = await enrol(this.client, this.s.venName, this.s.resourceName);
      if (this.enrolled && this.enrolled.targets.join() !== e.targets.join()) this.d.log.info({ targets: e.targets }, 'openadr targets granted to this VEN changed');
      if (this.state.venId !== e.venId) this.d.log.info({ ven_id: e.venId, resource_id: e.resourceId, ven_name: this.s.venName }, 'openadr VEN enrolled');
      this.enrolled = { venId: e.venId, targets: e.targets, polls: 0 };
      this.state.venId = e.venId;
      this.state.resourceId = e.resourceId;
      return undefined;
    } catch (e) {
      // away, or the token refused: the poll fails as a whole
      if (!(e instanceof VtnError) || e.status === 401 || e.status >= 500 || e.status < 400) throw e;
      if (this.enrolled) this.enrolled.polls = 0;
      return `VEN ${this.s.venName} not enrolled: ${describe(e)}`;
    }
  }

  /** the events the VTN lists now replace those held; each keeps when it was first seen */
  private hold(found: { event: OadrEvent; program: Program }[]): void {
    const before = new Map(this.state.events.map((h) => [h.event.id, h]));
    const now = this.d.clock.now();
    this.state.events = found.map(({ event, program }): HeldEvent => ({
      event,
      programName: program.programName,
      programDescriptors: program.payloadDescriptors ?? undefined,
      firstSeenAt: before.get(event.id)?.firstSeenAt ?? now,
    }));
    const gone = [...before.keys()].filter((id) => !this.state.events.some((h) => h.event.id === id));
    if (gone.length) this.d.log.info({ events: gone }, 'openadr events gone from the VTN: their effect ends');
    for (const k of [...this.logged]) if (k.startsWith('ignored/') && gone.some((id) => k.startsWith(`ignored/${id}/`))) this.logged.delete(k);
    this.book?.track(this.state.events);
    this.recompute();
  }

  /** the directive from the events held, now; onDirective only when it changed; a timer for the next boundary */
  private recompute(): void {
    const now = this.d.clock.now();
    const r = resolve(this.state.events, { now, venKey: this.s.venName, maxKw: this.d.maxKw, simpleLevels: this.s.simpleLevels, maxPrice: this.s.maxPrice, currency: this.s.currency });
    for (const i of r.ignored) this.once(`ignored/${this.eventId(i.event)}/${i.type ?? ''}/${i.reason}`, 'warn', i, 'openadr payload ignored');
    if (!sameDirective(r.directive, this.directive)) {
      this.directive = r.directive;
      this.d.log.info({ curtail: r.directive.curtail, miners_max_kw: r.directive.minersMaxKw, setpoint_kw: r.directive.setpointKw, import_limit_kw: r.directive.importLimitKw, active: r.directive.active.length }, 'openadr directive');
      try {
        this.d.onDirective(r.directive);
      } catch (e) {
        this.d.log.error({ err: (e as Error).message }, 'openadr directive not taken by the site');
      }
    }
    this.changeTimer?.cancel();
    this.changeTimer = undefined;
    if (r.directive.nextChangeAt !== undefined && !this.stopped) {
      const wait = Math.min(MAX_WAIT_MS, Math.max(0, r.directive.nextChangeAt - now));
      this.changeTimer = this.d.clock.setTimeout(() => this.recompute(), wait);
    }
  }

  /** a site reading for the reports; reports now due are queued and sent */
  private tick(): void {
    let reading: SiteReading | undefined;
    try {
      reading = this.d.read();
    } catch {
      reading = undefined;
    }
    const d = this.directive;
    const constrained = d.curtail || d.minersMaxKw !== undefined || d.setpointKw !== undefined || d.importLimitKw !== undefined;
    if (!this.book) return;
    if (reading) this.book.sample(reading, constrained, MAX_GAP_MS);
    const due = this.book.due(this.d.clock.now());
    if (!due.length) return;
    const madeAt = this.d.clock.now();
    this.state.pending.push(...due.map((report) => ({ madeAt, tries: 0, report })));
    const over = this.state.pending.length - MAX_PENDING;
    if (over > 0) {
      this.state.pending.splice(0, over);
      this.d.log.warn({ dropped: over }, 'openadr reports dropped: the VTN has been away too long');
    }
    this.save();
    if (this.connected) void this.sendPending().catch(() => undefined);
  }

  /** the reports kept, oldest first, until the VTN is away again; one it refuses as malformed is dropped */
  private sendPending(): Promise<void> {
    this.sending ??= (async () => {
      try {
        while (this.state.pending.length && !this.stopped) {
          const p = this.state.pending[0];
          try {
            await this.client.postReport(p.report);
            this.reportsSent++;
            this.state.pending.shift();
          } catch (e) {
            p.tries++;
            const status = e instanceof VtnError ? e.status : 0;
            // refused for what it is (400, 404, 409…), not for who sent it or when: sending it again cannot help
            if (status >= 400 && status < 500 && ![401, 403, 408, 429].includes(status)) {
              this.d.log.warn({ event: p.report.eventID, status, err: (e as Error).message }, 'openadr report refused by the VTN; dropped');
              this.state.pending.shift();
              continue;
            }
            throw e;
          }
        }
      } finally {
        this.save();
      }
    })().finally(() => { this.sending = undefined; });
    return this.sending;
  }

  private notified(n: Notification): void {
    if (n.objectType !== 'EVENT' && n.objectType !== 'PROGRAM') return;
    this.d.log.debug({ object: n.objectType, operation: n.operation }, 'openadr notification: polling now');
    void this.poll();
  }

  private setFault(fault: string | undefined): void {
    if (fault === this.fault) return;
    if (fault) this.d.log.warn({ fault }, 'openadr VTN fault; the events in force stay in force');
    else if (this.fault) this.d.log.info('openadr VTN reachable again');
    this.fault = fault;
  }

  private reportRejected(): void {
    for (const r of this.client.rejected) this.once(`rejected/${r.path}/${r.id}/${r.reason}`, 'warn', r, 'openadr object not the specification\'s schema; left out');
    this.client.rejected = [];
  }

  private eventId(name: string): string {
    return this.state.events.find((h) => h.event.eventName === name || h.event.id === name)?.event.id ?? name;
  }

  /** log a line once per key (a reason repeated every poll is said once) */
  private once(key: string, level: 'debug' | 'warn', fields: object, msg: string): void {
    if (this.logged.has(key)) return;
    if (this.logged.size > 5000) this.logged.clear();
    this.logged.add(key);
    this.d.log[level](fields, msg);
  }

  private save(): void {
    if (!this.book) return;
    this.state.reports = this.book.state();
    this.store.save(this.state);
  }
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
