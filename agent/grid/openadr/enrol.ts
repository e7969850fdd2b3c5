import type { VtnClient } from './client';
import { isStatus } from './client';
import { NOTIFY_PATH } from './notify';
import { targetStrings, type Program, type Targets } from './spec';

/**
 * Enrolment at the VTN (User Guide §6.7 "VEN and Resource Scenarios"): the VEN object found by
 * venName, or created; its resource found by resourceName under it, or created. IDs the store
 * kept are checked, not trusted blindly: a VEN deleted at the VTN is found or created again.
 * And the webhook subscriptions, one per program followed, replacing this VEN's earlier ones.
 */

export interface Enrolment {
  venId: string;
  resourceId: string;
  /** targets the business logic granted this VEN (3.1.0 strings): sent with program and event queries */
  targets: string[];
}

export async function enrol(client: VtnClient, venName: string, resourceName: string): Promise<Enrolment> {
  const found = await client.vensNamed(venName);
  const ven = found[0] ?? (await createOnce(() => client.createVen({ venName }), () => client.vensNamed(venName)));
  const resources = await client.resourcesNamed(ven.id, resourceName);
  const resource = resources[0] ?? (await createOnce(() => client.createResource(ven.id, { resourceName }), () => client.resourcesNamed(ven.id, resourceName)));
  const targets = [...new Set([...targetStringsOf(ven.targets), ...targetStringsOf(resource.targets)])];
  return { venId: ven.id, resourceId: resource.id, targets };
}

/** 3.1.0 targets only: 3.0.1 valuesMaps are the VTN's filter, not query terms */
function targetStringsOf(t: Targets): string[] {
  return (t ?? []).every((x) => typeof x === 'string') ? targetStrings(t) : [];
}

/** create, or, where another start of this VEN got there first (409), read what it made */
async function createOnce<T>(create: () => Promise<T>, find: () => Promise<T[]>): Promise<T> {
  try {
    return await create();
  } catch (e) {
    if (!isStatus(e, 409)) throw e;
    const again = await find();
    if (!again.length) throw e;
    return again[0];
  }
}

/** the programs to follow: those named in openadr.programs (in that order), else every one readable */
export function followed(all: Program[], names: string[] | undefined): { programs: Program[]; missing: string[] } {
  if (!names) return { programs: all, missing: [] };
  const programs: Program[] = [];
  const missing: string[] = [];
  for (const n of names) {
    const p = all.find((x) => x.programName === n);
    if (p) programs.push(p);
    else missing.push(n);
  }
  return { programs, missing };
}

/**
 * Webhook subscriptions for the events of each program followed, at `callbackUrl` with this
 * run's bearer token. Subscriptions of this VEN's clientName to this agent's webhook path left
 * by an earlier run (their token and perhaps port are gone with it) are deleted first, so the
 * VTN does not call a dead callback for ever.
 */
export async function subscribe(client: VtnClient, clientName: string, programs: Program[], callbackUrl: string, bearerToken: string): Promise<string[]> {
  for (const s of await client.subscriptions(clientName)) {
    if (s.clientName !== clientName) continue;
    if (!s.objectOperations.some((o) => o.callbackUrl === callbackUrl || o.callbackUrl.endsWith(NOTIFY_PATH))) continue;
    await client.deleteSubscription(s.id).catch((e) => { if (!isStatus(e, 404)) throw e; });
  }
  const ids: string[] = [];
  for (const p of programs) {
    const s = await client.createSubscription({
      clientName,
      programID: p.id,
      objectOperations: [{ objects: ['EVENT', 'PROGRAM'], operations: ['CREATE', 'UPDATE', 'DELETE'], callbackUrl, bearerToken }],
    });
    ids.push(s.id);
  }
  return ids;
}
