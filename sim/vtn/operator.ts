import type { z } from 'zod';
import type {
  eventRequestSchema,
  OadrEvent,
  Program,
  programRequestSchema,
  Report,
  Resource,
  Subscription,
  Ven,
} from '../../agent/grid/openadr/spec';
import type { Principal, TokenService } from './auth';
import { ProblemError, type Reply } from './http';
import type { Delivery, WebhookSender } from './notify';
import type { Violation, VtnState } from './state';
import type { Obj } from './store';

export type ProgramInput = z.input<typeof programRequestSchema>;
export type EventInput = z.input<typeof eventRequestSchema>;

/** the operator acts as business logic, through the same operations (and checks) as HTTP clients */
const OPERATOR: Principal = { clientId: 'operator', role: 'bl' };

/**
 * What a test or a scenario does to the simulated VTN without HTTP: the utility's side (programs,
 * events, targets granted to a ven), token expiry, and what the VTN received and sent. Writes go
 * through the API's own handlers, so they are validated and notified exactly as a BL client's.
 */
export abstract class SimVtnOperator {
  constructor(
    protected readonly state: VtnState,
    protected readonly tokens: TokenService,
    private readonly webhooks: WebhookSender,
  ) {}

  protected abstract dispatch(method: string, path: string, query: Record<string, string | string[]>, body: unknown, who: Principal): Promise<Reply>;

  private async op<T>(method: string, path: string, body?: unknown): Promise<T> {
    let r: Reply;
    try {
      r = await this.dispatch(method, path, {}, body, OPERATOR);
    } catch (e) {
      if (e instanceof ProblemError) throw new Error(`operator ${method} ${path}: ${e.status} ${e.detail ?? e.title}`);
      throw e;
    }
    const check = r.schema.safeParse(r.body);
    if (!check.success) throw new Error(`operator ${method} ${path}: the VTN produced an invalid object: ${check.error.message}`);
    return check.data as T;
  }

  createProgram(req: ProgramInput): Promise<Program> {
    return this.op('POST', '/programs', req);
  }

  /** the program with `changes` over it (PUT of the whole) */
  updateProgram(id: string, changes: Partial<ProgramInput>): Promise<Program> {
    return this.op('PUT', `/programs/${id}`, { ...this.existing('programs', id), ...changes });
  }

  /** the program and its events (each notified as deleted) */
  deleteProgram(id: string): Promise<Program> {
    return this.op('DELETE', `/programs/${id}`);
  }

  createEvent(req: EventInput): Promise<OadrEvent> {
    return this.op('POST', '/events', req);
  }

  /** the event with `changes` over it (PUT of the whole): shorten it, change its values … */
  updateEvent(id: string, changes: Partial<EventInput>): Promise<OadrEvent> {
    return this.op('PUT', `/events/${id}`, { ...this.existing('events', id), ...changes });
  }

  deleteEvent(id: string): Promise<OadrEvent> {
    return this.op('DELETE', `/events/${id}`);
  }

  /** BL grants a ven targets (Definitions 3.1.0: only BL writes a ven's targets) */
  grantTargets(venId: string, targets: string[]): Promise<Ven> {
    return this.op('PUT', `/vens/${venId}`, { ...this.existing('vens', venId), targets });
  }

  /**
   * Serve `raw` as it is after the valid events of GET /events (its programID filter applies):
   * a VTN that sends an event its VENs must refuse. Unchecked on purpose.
   */
  injectRawEvent(raw: Record<string, unknown>): void {
    this.state.rawEvents.push(raw);
  }

  clearRawEvents(): void {
    this.state.rawEvents.length = 0;
  }

  /** every access token issued so far stops working now */
  expireTokens(): void {
    this.tokens.expireAll();
  }

  /** tokens issued to a client so far */
  tokensIssued(clientId: string): number {
    return this.tokens.issued.get(clientId) ?? 0;
  }

  setTokenTtl(seconds: number): void {
    this.tokens.ttlS = seconds;
  }

  setClientSecret(clientId: string, secret: string): void {
    this.tokens.setSecret(clientId, secret);
  }

  get programs(): Program[] {
    return this.state.programs.all() as unknown as Program[];
  }

  get events(): OadrEvent[] {
    return this.state.events.all() as unknown as OadrEvent[];
  }

  get vens(): Ven[] {
    return this.state.vens.all() as unknown as Ven[];
  }

  get resources(): Resource[] {
    return this.state.resources.all() as unknown as Resource[];
  }

  get subscriptions(): Subscription[] {
    return this.state.subscriptions.all() as unknown as Subscription[];
  }

  /** the reports stored now (a PUT replaces one) */
  get reports(): Report[] {
    return this.state.reports.all() as unknown as Report[];
  }

  /** every report write as it arrived, in order, with the time and its sender */
  get reportLog(): VtnState['reportLog'] {
    return this.state.reportLog;
  }

  /** webhook notifications sent, with the callback's answer */
  get deliveries(): Delivery[] {
    return this.webhooks.deliveries;
  }

  /** replies and notifications that failed the specification's schemas (should stay empty) */
  get violations(): Violation[] {
    return this.state.violations;
  }

  /** every notification begun so far has been delivered or has failed */
  settled(): Promise<void> {
    return this.state.settled();
  }

  private existing(collection: 'programs' | 'events' | 'vens', id: string): Obj {
    const o = this.state[collection].get(id);
    if (!o) throw new Error(`operator: no ${collection.slice(0, -1)} ${id}`);
    return o;
  }
}
