import type { Clock } from '../../agent/clock';
import { targetStrings, type ObjectType, type Targets } from '../../agent/grid/openadr/spec';
import type { Principal } from './auth';

/**
 * The VTN's objects in memory, one collection per object type. The VTN owns the metadata
 * (Definitions, "Object Metadata": id, createdDateTime, modificationDateTime, objectType) and
 * ignores whatever a client sends for them; it writes the requester's clientID into the objects a
 * VEN creates (Definitions, "VEN created object privacy").
 */

export type Obj = Record<string, unknown> & { id: string };

const PREFIX: Record<ObjectType, string> = {
  PROGRAM: 'program',
  EVENT: 'event',
  REPORT: 'report',
  SUBSCRIPTION: 'subscription',
  VEN: 'ven',
  RESOURCE: 'resource',
};

const METADATA = ['id', 'createdDateTime', 'modificationDateTime', 'objectType'];

export class Collection {
  private readonly items = new Map<string, Obj>();
  private next = 1;

  constructor(readonly objectType: ObjectType, private readonly clock: Clock) {}

  private stamp(): string {
    return new Date(this.clock.now()).toISOString();
  }

  create(fields: Record<string, unknown>, extra: Record<string, unknown> = {}): Obj {
    const id = `${PREFIX[this.objectType]}-${this.next++}`;
    const now = this.stamp();
    const obj: Obj = { ...withoutMetadata(fields), ...extra, id, createdDateTime: now, modificationDateTime: now, objectType: this.objectType };
    this.items.set(id, obj);
    return obj;
  }

  /** PUT: the new representation replaces the old; metadata and `keep` fields stay the VTN's */
  replace(id: string, fields: Record<string, unknown>, keep: string[] = []): Obj | undefined {
    const old = this.items.get(id);
    if (!old) return undefined;
    const kept = Object.fromEntries(keep.filter((k) => k in old).map((k) => [k, old[k]]));
    const obj: Obj = { ...withoutMetadata(fields), ...kept, id, createdDateTime: old.createdDateTime, modificationDateTime: this.stamp(), objectType: this.objectType };
    this.items.set(id, obj);
    return obj;
  }

  delete(id: string): Obj | undefined {
    const old = this.items.get(id);
    this.items.delete(id);
    return old;
  }

  get(id: string): Obj | undefined {
    return this.items.get(id);
  }

  all(): Obj[] {
    return [...this.items.values()];
  }
}

function withoutMetadata(fields: Record<string, unknown>): Record<string, unknown> {
  const out = { ...fields };
  for (const k of METADATA) delete out[k];
  return out;
}

/** skip/limit pagination (OpenAPI: skip ≥ 0, limit ≤ 50) */
export function page<T>(items: T[], skip: number, limit: number): T[] {
  return items.slice(skip, skip + limit);
}

export interface TargetPolicy {
  /**
   * Definitions 3.1.0 ("targeting"): a VEN reads a targeted program or event only by naming
   * matching targets in its request, intersected with the targets BL granted its ven and
   * resources. strict: exactly that. Not strict (the default): a request naming no targets is
   * taken to name every target granted to the VEN.
   */
  strict: boolean;
}

/**
 * Who may see a program or an event with targets, and which of its targets they are shown
 * ("target hiding"). Objects without targets are for every client. BL sees everything; its
 * `targets` query narrows the list to objects carrying one of them.
 */
export function targetView(
  obj: Obj,
  who: Principal,
  requested: string[],
  granted: () => string[],
  policy: TargetPolicy,
): { visible: boolean; shown?: string[] } {
  const own = targetStrings(obj.targets as Targets);
  if (own.length === 0) return { visible: true };
  if (who.role === 'bl') return { visible: requested.length === 0 || own.some((t) => requested.includes(t)), shown: own };
  const mine = granted();
  const effective = requested.length > 0 ? requested.filter((t) => mine.includes(t)) : policy.strict ? [] : mine;
  const shown = own.filter((t) => effective.includes(t));
  return { visible: shown.length > 0, shown };
}
