import {
  eventListSchema,
  eventRequestSchema,
  eventSchema,
  programListSchema,
  programRequestSchema,
  programSchema,
} from '../../agent/grid/openadr/spec';
import { badRequest, conflict, notFound } from './http';
import { requestedTargets } from './query';
import { bodyOf, created, listed, ok, onlyBl, type Route } from './route';
import type { VtnState } from './state';
import type { Obj } from './store';

/**
 * /programs and /events (OpenAPI paths of the same names): BL writes them; every client reads
 * those targeted at it. A program's name is unique in the VTN (Definitions, "Object names").
 */

function program(s: VtnState, id: string): Obj {
  const p = s.programs.get(id);
  if (!p) throw notFound(`no program ${id}`);
  return p;
}

function event(s: VtnState, id: string): Obj {
  const e = s.events.get(id);
  if (!e) throw notFound(`no event ${id}`);
  return e;
}

function uniqueName(s: VtnState, name: unknown, except?: string): void {
  if (s.programs.all().some((p) => p.programName === name && p.id !== except)) throw conflict(`a program named ${String(name)} exists`);
}

function knownProgram(s: VtnState, id: unknown): void {
  if (typeof id !== 'string' || !s.programs.get(id)) throw badRequest(`programID ${String(id)} names no program`);
}

/** a program's events go with it, each with its own DELETE notification */
export function deleteProgram(s: VtnState, id: string): Obj | undefined {
  const p = s.programs.delete(id);
  if (!p) return undefined;
  for (const e of s.events.all().filter((x) => x.programID === id)) {
    s.events.delete(e.id);
    s.changed('EVENT', 'DELETE', e);
  }
  s.changed('PROGRAM', 'DELETE', p);
  return p;
}

export const eventRoutes: Route[] = [
  {
    method: 'GET',
    path: '/programs',
    handle: (s, c) => {
      const want = requestedTargets(c.query);
      const seen = s.programs.all().flatMap((p) => s.targeted(p, c.who, want) ?? []);
      return listed(seen, c.query, programListSchema);
    },
  },
  {
    method: 'POST',
    path: '/programs',
    handle: (s, c) => {
      onlyBl(c.who, 'create programs');
      const req = bodyOf(programRequestSchema, c.body, 'program');
      uniqueName(s, req.programName);
      const p = s.programs.create(req);
      s.changed('PROGRAM', 'CREATE', p);
      return created(p, programSchema);
    },
  },
  {
    method: 'GET',
    path: '/programs/{programID}',
    handle: (s, c) => {
      const p = s.targeted(program(s, c.params.programID), c.who, requestedTargets(c.query));
      if (!p) throw notFound(`no program ${c.params.programID}`);
      return ok(p, programSchema);
    },
  },
  {
    method: 'PUT',
    path: '/programs/{programID}',
    handle: (s, c) => {
      onlyBl(c.who, 'update programs');
      program(s, c.params.programID);
      const req = bodyOf(programRequestSchema, c.body, 'program');
      uniqueName(s, req.programName, c.params.programID);
      const p = s.programs.replace(c.params.programID, req)!;
      s.changed('PROGRAM', 'UPDATE', p);
      return ok(p, programSchema);
    },
  },
  {
    method: 'DELETE',
    path: '/programs/{programID}',
    handle: (s, c) => {
      onlyBl(c.who, 'delete programs');
      program(s, c.params.programID);
      return ok(deleteProgram(s, c.params.programID), programSchema);
    },
  },
  {
    method: 'GET',
    path: '/events',
    handle: (s, c) => {
      const want = requestedTargets(c.query);
      const q = c.query;
      const seen = s.events
        .all()
        .filter((e) => !q.programID || e.programID === q.programID)
        .filter((e) => q.active === undefined || s.active(e) === (q.active === 'true'))
        .flatMap((e) => s.targeted(e, c.who, want) ?? []);
      const reply = listed(seen, q, eventListSchema);
      const raw = s.rawEvents.filter((e) => !q.programID || e.programID === q.programID);
      if (raw.length === 0) return reply;
      return { ...reply, body: [...(reply.body as unknown[]), ...raw], unchecked: 'raw events the operator injected' };
    },
  },
  {
    method: 'POST',
    path: '/events',
    handle: (s, c) => {
      onlyBl(c.who, 'create events');
      const req = bodyOf(eventRequestSchema, c.body, 'event');
      knownProgram(s, req.programID);
      const e = s.events.create(req);
      s.changed('EVENT', 'CREATE', e);
      return created(e, eventSchema);
    },
  },
  {
    method: 'GET',
    path: '/events/{eventID}',
    handle: (s, c) => {
      const e = s.targeted(event(s, c.params.eventID), c.who, requestedTargets(c.query));
      if (!e) throw notFound(`no event ${c.params.eventID}`);
      return ok(e, eventSchema);
    },
  },
  {
    method: 'PUT',
    path: '/events/{eventID}',
    handle: (s, c) => {
      onlyBl(c.who, 'update events');
      event(s, c.params.eventID);
      const req = bodyOf(eventRequestSchema, c.body, 'event');
      knownProgram(s, req.programID);
      const e = s.events.replace(c.params.eventID, req)!;
      s.changed('EVENT', 'UPDATE', e);
      return ok(e, eventSchema);
    },
  },
  {
    method: 'DELETE',
    path: '/events/{eventID}',
    handle: (s, c) => {
      onlyBl(c.who, 'delete events');
      const e = s.events.delete(event(s, c.params.eventID).id)!;
      s.changed('EVENT', 'DELETE', e);
      return ok(e, eventSchema);
    },
  },
];
