import {
  resourceListSchema,
  resourceRequestSchema,
  resourceSchema,
  venListSchema,
  venRequestSchema,
  venSchema,
} from '../../agent/grid/openadr/spec';
import type { Principal } from './auth';
import { badRequest, conflict, notFound } from './http';
import { requestedTargets } from './query';
import { bodyOf, created, listed, ok, type Call, type Route } from './route';
import type { VtnState } from './state';
import { targetView, type Obj } from './store';

/**
 * /vens and resources, at both addresses: 3.1.0's /resources (venID in the body or the query)
 * and 3.0.1's /vens/{venID}/resources. A VEN reads and writes only its own (its clientID is
 * written into what it creates); only BL writes targets and clientID (Definitions, "Object
 * Privacy"): a VEN's are ignored, as the specification allows.
 */

function ownVen(s: VtnState, who: Principal, id: string): Obj {
  const v = s.vens.get(id);
  if (!v || !s.owns(v, who)) throw notFound(`no ven ${id}`);
  return v;
}

/** BL-only fields, dropped from what a VEN writes */
function asWritten(who: Principal, fields: Record<string, unknown>, old?: Obj): Record<string, unknown> {
  if (who.role === 'bl') return fields;
  const { targets: _t, clientID: _c, ...rest } = fields;
  return old && old.targets !== undefined ? { ...rest, targets: old.targets } : rest;
}

function uniqueVenName(s: VtnState, name: unknown, except?: string): void {
  if (s.vens.all().some((v) => v.venName === name && v.id !== except)) throw conflict(`a ven named ${String(name)} exists`);
}

function uniqueResourceName(s: VtnState, venID: string, name: unknown, except?: string): void {
  if (s.resources.all().some((r) => r.venID === venID && r.resourceName === name && r.id !== except)) {
    throw conflict(`ven ${venID} has a resource named ${String(name)}`);
  }
}

function listResources(s: VtnState, c: Call, venID: string | undefined): Obj[] {
  const want = requestedTargets(c.query);
  return s.resources
    .all()
    .filter((r) => (venID === undefined || r.venID === venID) && (c.query.resourceName === undefined || r.resourceName === c.query.resourceName))
    .filter((r) => s.owns(r, c.who))
    .filter((r) => c.who.role !== 'bl' || want.length === 0 || targetView(r, c.who, want, () => [], s.policy).visible);
}

function createResource(s: VtnState, c: Call, venID: string | undefined): Obj {
  const req = bodyOf(resourceRequestSchema, c.body, 'resource');
  const id = venID ?? req.venID;
  if (!id) throw badRequest('resource: venID is required');
  const ven = ownVen(s, c.who, id);
  uniqueResourceName(s, ven.id, req.resourceName);
  const r = s.resources.create(asWritten(c.who, req), { venID: ven.id, ...(ven.clientID !== undefined ? { clientID: ven.clientID } : {}) });
  s.changed('RESOURCE', 'CREATE', r);
  return r;
}

function ownResource(s: VtnState, c: Call, venID: string | undefined): Obj {
  const r = s.resources.get(c.params.resourceID);
  if (!r || (venID !== undefined && r.venID !== venID) || !s.owns(r, c.who)) throw notFound(`no resource ${c.params.resourceID}`);
  return r;
}

function replaceResource(s: VtnState, c: Call, venID: string | undefined): Obj {
  const old = ownResource(s, c, venID);
  const req = bodyOf(resourceRequestSchema, c.body, 'resource');
  uniqueResourceName(s, String(old.venID), req.resourceName, old.id);
  const r = s.resources.replace(old.id, { ...asWritten(c.who, req, old), venID: old.venID }, ['clientID'])!;
  s.changed('RESOURCE', 'UPDATE', r);
  return r;
}

function deleteResource(s: VtnState, c: Call, venID: string | undefined): Obj {
  const r = s.resources.delete(ownResource(s, c, venID).id)!;
  s.changed('RESOURCE', 'DELETE', r);
  return r;
}

/** the resource endpoints at one address; `venOf` reads the ven from the path (3.0.1) or not (3.1.0) */
function resourceRoutes(base: string, venOf: (c: Call) => string | undefined): Route[] {
  return [
    { method: 'GET', path: base, handle: (s, c) => {
      const venID = venOf(c) ?? c.query.venID;
      if (venOf(c) !== undefined) ownVen(s, c.who, venOf(c)!);
      return listed(listResources(s, c, venID), c.query, resourceListSchema);
    } },
    { method: 'POST', path: base, handle: (s, c) => created(createResource(s, c, venOf(c)), resourceSchema) },
    { method: 'GET', path: `${base}/{resourceID}`, handle: (s, c) => ok(ownResource(s, c, venOf(c)), resourceSchema) },
    { method: 'PUT', path: `${base}/{resourceID}`, handle: (s, c) => ok(replaceResource(s, c, venOf(c)), resourceSchema) },
    { method: 'DELETE', path: `${base}/{resourceID}`, handle: (s, c) => ok(deleteResource(s, c, venOf(c)), resourceSchema) },
  ];
}

export const venRoutes: Route[] = [
  {
    method: 'GET',
    path: '/vens',
    handle: (s, c) => {
      const want = requestedTargets(c.query);
      const seen = s.vens
        .all()
        .filter((v) => s.owns(v, c.who))
        .filter((v) => c.query.venName === undefined || v.venName === c.query.venName)
        .filter((v) => c.who.role !== 'bl' || want.length === 0 || targetView(v, c.who, want, () => [], s.policy).visible);
      return listed(seen, c.query, venListSchema);
    },
  },
  {
    method: 'POST',
    path: '/vens',
    handle: (s, c) => {
      const req = bodyOf(venRequestSchema, c.body, 'ven');
      uniqueVenName(s, req.venName);
      const { resources, ...fields } = asWritten(c.who, req);
      const v = s.vens.create(fields, c.who.role === 'ven' ? { clientID: c.who.clientId } : {});
      s.changed('VEN', 'CREATE', v);
      // 3.0.1 nests resources in the ven; they become resource objects of their own
      for (const r of (resources as Record<string, unknown>[] | null | undefined) ?? []) createResource(s, { ...c, body: r }, v.id);
      return created(v, venSchema);
    },
  },
  { method: 'GET', path: '/vens/{venID}', handle: (s, c) => ok(ownVen(s, c.who, c.params.venID), venSchema) },
  {
    method: 'PUT',
    path: '/vens/{venID}',
    handle: (s, c) => {
      const old = ownVen(s, c.who, c.params.venID);
      const req = bodyOf(venRequestSchema, c.body, 'ven');
      uniqueVenName(s, req.venName, old.id);
      const { resources: _r, ...fields } = asWritten(c.who, req, old);
      const v = s.vens.replace(old.id, fields, c.who.role === 'ven' ? ['clientID'] : [])!;
      s.changed('VEN', 'UPDATE', v);
      return ok(v, venSchema);
    },
  },
  {
    method: 'DELETE',
    path: '/vens/{venID}',
    handle: (s, c) => {
      const v = s.vens.delete(ownVen(s, c.who, c.params.venID).id)!;
      for (const r of s.resources.all().filter((x) => x.venID === v.id)) {
        s.resources.delete(r.id);
        s.changed('RESOURCE', 'DELETE', r);
      }
      s.changed('VEN', 'DELETE', v);
      return ok(v, venSchema);
    },
  },
  ...resourceRoutes('/resources', () => undefined),
  ...resourceRoutes('/vens/{venID}/resources', (c) => c.params.venID),
];
