import type { Clock } from '../../agent/clock';
import {
  OBJECT_SCHEMAS,
  eventSpans,
  notificationSchema,
  targetStrings,
  type Notification,
  type ObjectType,
  type OadrEvent,
  type Operation,
  type Targets,
} from '../../agent/grid/openadr/spec';
import type { Principal, Role } from './auth';
import type { MqttPublisher, WebhookSender } from './notify';
import { topicsFor } from './notify';
import { Collection, targetView, type Obj, type TargetPolicy } from './store';

/**
 * The simulated VTN's model: its collections and the rules that cut across them — who sees
 * what (object privacy and targeting), which subscriptions hear of an operation, and the
 * notification each is sent (checked against the specification before it leaves).
 */

export interface Violation {
  at: number;
  where: string;
  detail: string;
}

export class VtnState {
  readonly programs: Collection;
  readonly events: Collection;
  readonly reports: Collection;
  readonly subscriptions: Collection;
  readonly vens: Collection;
  readonly resources: Collection;
  /** events served as they are, unchecked, after the valid ones (operator: a VTN that sends a bad one) */
  readonly rawEvents: Record<string, unknown>[] = [];
  /** every report as it arrived (POST and PUT), with its sender */
  readonly reportLog: { at: number; clientId: string; operation: Operation; report: Obj }[] = [];
  readonly violations: Violation[] = [];
  private readonly pending = new Set<Promise<void>>();

  constructor(
    readonly clock: Clock,
    readonly policy: TargetPolicy,
    private readonly roleOf: (clientId: string) => Role,
    private readonly webhooks: WebhookSender,
    private readonly mqtt?: MqttPublisher,
  ) {
    this.programs = new Collection('PROGRAM', clock);
    this.events = new Collection('EVENT', clock);
    this.reports = new Collection('REPORT', clock);
    this.subscriptions = new Collection('SUBSCRIPTION', clock);
    this.vens = new Collection('VEN', clock);
    this.resources = new Collection('RESOURCE', clock);
  }

  violation(where: string, detail: string): void {
    this.violations.push({ at: this.clock.now(), where, detail });
  }

  /** the targets BL granted a VEN client: those of its ven objects and their resources */
  granted(clientId: string): string[] {
    const vens = this.vens.all().filter((v) => v.clientID === clientId);
    const ids = new Set(vens.map((v) => v.id));
    const out = vens.flatMap((v) => targetStrings(v.targets as Targets));
    for (const r of this.resources.all()) if (ids.has(r.venID as string)) out.push(...targetStrings(r.targets as Targets));
    return out;
  }

  /** a program or an event as `who` may see it (targets hidden), or undefined */
  targeted(obj: Obj, who: Principal, requested: string[]): Obj | undefined {
    const view = targetView(obj, who, requested, () => this.granted(who.clientId), this.policy);
    if (!view.visible) return undefined;
    return view.shown === undefined ? obj : { ...obj, targets: view.shown };
  }

  /** vens, resources, reports, subscriptions: a VEN sees only its own (Definitions, "Object Privacy") */
  owns(obj: Obj, who: Principal): boolean {
    return who.role === 'bl' || obj.clientID === who.clientId;
  }

  /** an event's intervals are not all over: 3.1.0's `active` query (a still-to-come event counts) */
  active(event: Obj): boolean {
    const now = this.clock.now();
    const { spans } = eventSpans(event as unknown as OadrEvent, { nowStartMs: Date.parse(event.createdDateTime as string), seed: '', untilMs: now + 1 });
    return spans.some((s) => s.endMs > now);
  }

  /** an operation happened: tell every subscription that asked, and the broker */
  changed(objectType: ObjectType, operation: Operation, obj: Obj): void {
    for (const sub of this.subscriptions.all()) {
      const owner: Principal = { clientId: String(sub.clientID), role: this.roleOf(String(sub.clientID)) };
      if (!this.concerns(sub, objectType, obj)) continue;
      const shown = this.visibleTo(objectType, obj, owner, targetStrings(sub.targets as Targets));
      if (!shown) continue;
      for (const oo of sub.objectOperations as { objects: string[]; operations: string[]; callbackUrl: string; bearerToken?: string | null }[]) {
        if (!oo.objects.includes(objectType) || !oo.operations.map(crud).includes(operation)) continue;
        const n = this.checked({ objectType, operation, object: shown });
        if (n) this.webhooks.send(oo.callbackUrl, oo.bearerToken, n);
      }
    }
    if (this.mqtt) {
      const n = this.checked({ objectType, operation, object: obj });
      const vens = this.vens.all().filter((v) => this.visibleTo(objectType, obj, { clientId: String(v.clientID), role: 'ven' }, []) !== undefined);
      const relevant = objectType === 'RESOURCE' ? vens.filter((v) => v.id === obj.venID) : vens;
      if (n) this.track(this.mqtt.publish(topicsFor(n, relevant.map((v) => v.id)), n));
    }
  }

  private concerns(sub: Obj, objectType: ObjectType, obj: Obj): boolean {
    if (!sub.programID) return true;
    if (objectType === 'PROGRAM') return obj.id === sub.programID;
    if (objectType === 'EVENT') return obj.programID === sub.programID;
    return true;
  }

  private visibleTo(objectType: ObjectType, obj: Obj, who: Principal, requested: string[]): Obj | undefined {
    if (objectType === 'PROGRAM' || objectType === 'EVENT') return this.targeted(obj, who, requested);
    if (objectType === 'RESOURCE') {
      const ven = this.vens.get(String(obj.venID));
      return who.role === 'bl' || ven?.clientID === who.clientId ? obj : undefined;
    }
    return this.owns(obj, who) ? obj : undefined;
  }

  /** a notification the VTN is about to send, checked against the specification */
  private checked(n: { objectType: ObjectType; operation: Operation; object: Obj }): Notification | undefined {
    const outer = notificationSchema.safeParse(n);
    const inner = OBJECT_SCHEMAS[n.objectType].safeParse(n.object);
    if (!outer.success || !inner.success) {
      this.violation(`notification ${n.objectType} ${n.operation}`, (outer.error ?? inner.error)?.message ?? 'invalid');
      return undefined;
    }
    return outer.data;
  }

  private track(p: Promise<void>): void {
    const q = p.finally(() => this.pending.delete(q));
    this.pending.add(q);
  }

  /** every notification begun so far is delivered (or failed) */
  async settled(): Promise<void> {
    await this.webhooks.settled();
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }
}

/** subscriptions may name operations as 3.0.1 HTTP verbs; compare as CRUD names */
function crud(op: string): string {
  return ({ GET: 'READ', POST: 'CREATE', PUT: 'UPDATE' } as Record<string, string>)[op] ?? op;
}
