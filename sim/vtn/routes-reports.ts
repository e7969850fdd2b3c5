import crypto from 'node:crypto';
import {
  reportListSchema,
  reportRequestSchema,
  reportSchema,
  subscriptionListSchema,
  subscriptionRequestSchema,
  subscriptionSchema,
  type SubscriptionRequest,
} from '../../agent/grid/openadr/spec';
import { badRequest, forbidden, notFound } from './http';
import { bodyOf, created, listed, ok, type Call, type Route } from './route';
import type { VtnState } from './state';
import type { Obj } from './store';

/**
 * /reports (VENs write, Definitions: write_reports is theirs alone) and /subscriptions (webhook
 * registrations). Both are private to the client that made them.
 */

export interface SubscriptionRules {
  /**
   * Definitions 3.1.0, "Webhooks": the VTN MUST see an HTTPS callback and MUST check it with
   * GET ?echo=. The simulator lets plain http through to loopback addresses, for tests and a VTN
   * on the board; `challenge` (off unless asked) runs the echo check.
   */
  challenge?: (url: string, bearerToken: string | null | undefined) => Promise<boolean>;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/;

function mine(s: VtnState, c: Call, collection: 'reports' | 'subscriptions', id: string): Obj {
  const o = s[collection].get(id);
  if (!o || !s.owns(o, c.who)) throw notFound(`no ${collection.slice(0, -1)} ${id}`);
  return o;
}

function knownEvent(s: VtnState, id: string): Obj {
  const e = s.events.get(id);
  if (!e) throw badRequest(`eventID ${id} names no event`);
  return e;
}

async function checkCallbacks(req: SubscriptionRequest, rules: SubscriptionRules): Promise<void> {
  for (const oo of req.objectOperations) {
    const u = new URL(oo.callbackUrl);
    if (u.protocol !== 'https:' && !(u.protocol === 'http:' && LOOPBACK.test(u.hostname))) {
      throw badRequest(`callbackUrl must be https (${oo.callbackUrl})`);
    }
    if (rules.challenge && !(await rules.challenge(oo.callbackUrl, oo.bearerToken))) {
      throw badRequest(`callbackUrl ${oo.callbackUrl} did not answer the echo challenge`);
    }
  }
}

export function reportRoutes(rules: SubscriptionRules): Route[] {
  return [
    {
      method: 'GET',
      path: '/reports',
      handle: (s, c) => {
        const q = c.query;
        const seen = s.reports
          .all()
          .filter((r) => s.owns(r, c.who))
          .filter((r) => !q.eventID || r.eventID === q.eventID)
          .filter((r) => !q.clientName || r.clientName === q.clientName)
          .filter((r) => !q.programID || (r.programID ?? s.events.get(String(r.eventID))?.programID) === q.programID);
        return listed(seen, q, reportListSchema);
      },
    },
    {
      method: 'POST',
      path: '/reports',
      handle: (s, c) => {
        if (c.who.role !== 'ven') throw forbidden('only VEN clients write reports');
        const req = bodyOf(reportRequestSchema, c.body, 'report');
        knownEvent(s, req.eventID);
        const r = s.reports.create(req, { clientID: c.who.clientId });
        s.reportLog.push({ at: s.clock.now(), clientId: c.who.clientId, operation: 'CREATE', report: r });
        s.changed('REPORT', 'CREATE', r);
        return created(r, reportSchema);
      },
    },
    { method: 'GET', path: '/reports/{reportID}', handle: (s, c) => ok(mine(s, c, 'reports', c.params.reportID), reportSchema) },
    {
      method: 'PUT',
      path: '/reports/{reportID}',
      handle: (s, c) => {
        const old = mine(s, c, 'reports', c.params.reportID);
        const req = bodyOf(reportRequestSchema, c.body, 'report');
        knownEvent(s, req.eventID);
        const r = s.reports.replace(old.id, req, ['clientID'])!;
        s.reportLog.push({ at: s.clock.now(), clientId: c.who.clientId, operation: 'UPDATE', report: r });
        s.changed('REPORT', 'UPDATE', r);
        return ok(r, reportSchema);
      },
    },
    {
      method: 'DELETE',
      path: '/reports/{reportID}',
      handle: (s, c) => {
        const r = s.reports.delete(mine(s, c, 'reports', c.params.reportID).id)!;
        s.changed('REPORT', 'DELETE', r);
        return ok(r, reportSchema);
      },
    },
    {
      method: 'GET',
      path: '/subscriptions',
      handle: (s, c) => {
        const q = c.query;
        const seen = s.subscriptions
          .all()
          .filter((x) => s.owns(x, c.who))
          .filter((x) => !q.programID || x.programID === q.programID)
          .filter((x) => !q.clientName || x.clientName === q.clientName)
          .filter((x) => q.objects.length === 0 || (x.objectOperations as { objects: string[] }[]).some((oo) => q.objects.some((want) => oo.objects.includes(want))));
        return listed(seen, q, subscriptionListSchema);
      },
    },
    {
      method: 'POST',
      path: '/subscriptions',
      handle: async (s, c) => {
        const req = bodyOf(subscriptionRequestSchema, c.body, 'subscription');
        await checkCallbacks(req, rules);
        const x = s.subscriptions.create(req, { clientID: c.who.clientId });
        s.changed('SUBSCRIPTION', 'CREATE', x);
        return created(x, subscriptionSchema);
      },
    },
    { method: 'GET', path: '/subscriptions/{subscriptionID}', handle: (s, c) => ok(mine(s, c, 'subscriptions', c.params.subscriptionID), subscriptionSchema) },
    {
      method: 'PUT',
      path: '/subscriptions/{subscriptionID}',
      handle: async (s, c) => {
        const old = mine(s, c, 'subscriptions', c.params.subscriptionID);
        const req = bodyOf(subscriptionRequestSchema, c.body, 'subscription');
        await checkCallbacks(req, rules);
        const x = s.subscriptions.replace(old.id, req, ['clientID'])!;
        s.changed('SUBSCRIPTION', 'UPDATE', x);
        return ok(x, subscriptionSchema);
      },
    },
    {
      method: 'DELETE',
      path: '/subscriptions/{subscriptionID}',
      handle: (s, c) => {
        const x = s.subscriptions.delete(mine(s, c, 'subscriptions', c.params.subscriptionID).id)!;
        s.changed('SUBSCRIPTION', 'DELETE', x);
        return ok(x, subscriptionSchema);
      },
    },
  ];
}

/** a fresh echo value for the callback challenge */
export const echoValue = (): string => crypto.randomBytes(12).toString('hex');
