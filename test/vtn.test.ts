import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VirtualClock } from '../agent/clock';
import {
  authErrorSchema,
  authServerInfoSchema,
  clientCredentialResponseSchema,
  eventListSchema,
  eventSchema,
  programListSchema,
  programSchema,
  reportListSchema,
  reportSchema,
  resourceListSchema,
  resourceSchema,
  venListSchema,
  venSchema,
  type EventRequest,
} from '../agent/grid/openadr/spec';
import { SimVtn } from '../sim/vtn';
import { Api, call, tokenFor } from './fixtures/vtn/client';

// loopback range of the VTN suites: 127.27.0.0/16 (this file: 127.27.0.1)
const HOST = '127.27.0.1';
const CLIENTS = [
  { id: 'ven-a', secret: 'secret-a' },
  { id: 'ven-b', secret: 'secret-b' },
  { id: 'utility', secret: 'bl-secret', role: 'bl' as const },
];

async function withVtn(fn: (vtn: SimVtn, clock: VirtualClock) => Promise<void>, extra: Partial<ConstructorParameters<typeof SimVtn>[0]> = {}): Promise<void> {
  const clock = new VirtualClock(Date.UTC(2026, 5, 1, 12));
  const vtn = new SimVtn({ host: HOST, clients: CLIENTS, tokenTtlS: 600, clock, ...extra });
  await vtn.listen();
  try {
    await fn(vtn, clock);
  } finally {
    await vtn.close();
  }
}

const simpleEvent = (programID: string, level = 1, start = '2026-06-01T12:00:00Z'): EventRequest => ({
  programID,
  eventName: `simple-${level}`,
  intervalPeriod: { start, duration: 'PT1H' },
  intervals: [{ id: 0, payloads: [{ type: 'SIMPLE', values: [level] }] }],
});

test('GET /auth/server names the token endpoint, which trades client credentials for a bearer token', async () => {
  await withVtn(async (vtn) => {
    const server = authServerInfoSchema.parse((await call(`${vtn.url}/auth/server`)).json);
    assert.is(server.tokenURL, `${vtn.url}/auth/token`);
    const a = await call(server.tokenURL, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials&client_id=ven-a&client_secret=secret-a',
    });
    assert.is(a.status, 200);
    assert.is(a.headers.get('cache-control'), 'no-store');
    const t = clientCredentialResponseSchema.parse(a.json);
    assert.is(t.token_type, 'Bearer');
    assert.is(t.expires_in, 600);
    assert.is(vtn.tokensIssued('ven-a'), 1);
  });
});

test('Client credentials in an HTTP Basic header are accepted as RFC 6749 allows', async () => {
  await withVtn(async (vtn) => {
    const a = await call(`${vtn.url}/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from('ven-b:secret-b').toString('base64')}` },
      body: 'grant_type=client_credentials',
    });
    assert.is(a.status, 200);
    clientCredentialResponseSchema.parse(a.json);
  });
});

test('A wrong secret, an unknown grant and a JSON body get OAuth2 errors and no token', async () => {
  await withVtn(async (vtn) => {
    const form = (body: string, type = 'application/x-www-form-urlencoded') => call(`${vtn.url}/auth/token`, { method: 'POST', headers: { 'content-type': type }, body });
    const wrong = await form('grant_type=client_credentials&client_id=ven-a&client_secret=nope');
    assert.is(wrong.status, 401);
    assert.is(authErrorSchema.parse(wrong.json).error, 'invalid_client');
    const grant = await form('grant_type=password&client_id=ven-a&client_secret=secret-a');
    assert.is(grant.status, 400);
    assert.is(authErrorSchema.parse(grant.json).error, 'unsupported_grant_type');
    const json = await form(JSON.stringify({ grant_type: 'client_credentials', client_id: 'ven-a', client_secret: 'secret-a' }), 'application/json');
    assert.is(json.status, 400);
    assert.is(authErrorSchema.parse(json.json).error, 'invalid_request');
    assert.is(vtn.tokensIssued('ven-a'), 0);
  });
});

test('Without a valid bearer token every API request is refused with 401 and a problem', async () => {
  await withVtn(async (vtn) => {
    const none = await call(`${vtn.url}/programs`);
    assert.is(none.status, 401);
    assert.match(none.headers.get('www-authenticate') ?? '', /Bearer/);
    const bogus = await new Api(vtn.url, 'not-a-token').refused('GET', '/events');
    assert.is(bogus.status, 401);
    assert.match(bogus.detail, /unknown token/);
  });
});

test('A token stops working when its lifetime passes on the VTN clock, and when the operator expires it', async () => {
  await withVtn(async (vtn, clock) => {
    const api = await Api.login(vtn.url, 'ven-a', 'secret-a');
    await api.ok('GET', '/programs', programListSchema);
    clock.advance(599_000);
    await api.ok('GET', '/programs', programListSchema);
    clock.advance(1_000);
    assert.match((await api.refused('GET', '/programs')).detail, /expired/);
    api.token = await tokenFor(vtn.url, 'ven-a', 'secret-a');
    await api.ok('GET', '/programs', programListSchema);
    vtn.expireTokens();
    assert.is((await api.refused('GET', '/programs')).status, 401);
    assert.is(vtn.tokensIssued('ven-a'), 2);
  });
});

test('Only business logic writes programs and events; a program name is unique', async () => {
  await withVtn(async (vtn) => {
    const ven = await Api.login(vtn.url, 'ven-a', 'secret-a');
    const bl = await Api.login(vtn.url, 'utility', 'bl-secret');
    assert.is((await ven.refused('POST', '/programs', { programName: 'ers-30' })).status, 403);
    const p = await bl.ok('POST', '/programs', programSchema, { programName: 'ers-30', id: 'mine', objectType: 'nonsense' });
    assert.ok(p.id !== 'mine', 'the VTN assigns the id, whatever the client sent');
    assert.is(p.objectType, 'PROGRAM');
    assert.is((await bl.refused('POST', '/programs', { programName: 'ers-30' })).status, 409);
    assert.is((await ven.refused('POST', '/events', simpleEvent(p.id))).status, 403);
    const e = await bl.ok('POST', '/events', eventSchema, simpleEvent(p.id));
    assert.is(e.programID, p.id);
    assert.is((await bl.refused('POST', '/events', simpleEvent('program-404'))).status, 400);
    const seen = await ven.ok('GET', '/events', eventListSchema);
    assert.equal(seen.map((x) => x.id), [e.id]);
  });
});

test('A VEN creates its ven once, finds it by venName, and another VEN sees none of it', async () => {
  await withVtn(async (vtn) => {
    const a = await Api.login(vtn.url, 'ven-a', 'secret-a');
    const b = await Api.login(vtn.url, 'ven-b', 'secret-b');
    const v = await a.ok('POST', '/vens', venSchema, { objectType: 'VEN_VEN_REQUEST', venName: 'north-field', targets: ['grab-all'] });
    assert.is(v.clientID, 'ven-a', 'the VTN writes the requester as clientID');
    assert.is(v.targets, undefined, 'a VEN cannot grant itself targets');
    assert.is((await a.refused('POST', '/vens', { venName: 'north-field' })).status, 409);
    const found = await a.ok('GET', '/vens?venName=north-field', venListSchema);
    assert.equal(found.map((x) => x.id), [v.id]);
    assert.equal(await b.ok('GET', '/vens?venName=north-field', venListSchema), []);
    assert.is((await b.refused('GET', `/vens/${v.id}`)).status, 404);
  });
});

test('Resources are served at /resources (3.1.0) and /vens/{venID}/resources (3.0.1) alike', async () => {
  await withVtn(async (vtn) => {
    const a = await Api.login(vtn.url, 'ven-a', 'secret-a');
    const b = await Api.login(vtn.url, 'ven-b', 'secret-b');
    const v = await a.ok('POST', '/vens', venSchema, { venName: 'north-field' });
    const r = await a.ok('POST', '/resources', resourceSchema, { venID: v.id, resourceName: 'miners' });
    assert.is(r.venID, v.id);
    assert.is((await a.refused('POST', `/vens/${v.id}/resources`, { resourceName: 'miners' })).status, 409);
    const r2 = await a.ok('POST', `/vens/${v.id}/resources`, resourceSchema, { resourceName: 'fans' });
    assert.equal((await a.ok('GET', `/resources?venID=${v.id}&resourceName=miners`, resourceListSchema)).map((x) => x.id), [r.id]);
    assert.equal((await a.ok('GET', `/vens/${v.id}/resources`, resourceListSchema)).map((x) => x.id), [r.id, r2.id]);
    assert.is((await a.refused('POST', '/resources', { resourceName: 'x' })).status, 400, 'venID is required at /resources');
    assert.is((await b.refused('POST', `/vens/${v.id}/resources`, { resourceName: 'theirs' })).status, 404);
    assert.equal(await b.ok('GET', '/resources', resourceListSchema), []);
  });
});

test('Events are filtered by programID, paged with skip and limit, and limit is capped at 50', async () => {
  await withVtn(async (vtn) => {
    const p1 = await vtn.createProgram({ programName: 'ers-30' });
    const p2 = await vtn.createProgram({ programName: 'tou' });
    for (let i = 0; i < 55; i++) await vtn.createEvent(simpleEvent(i % 5 === 0 ? p2.id : p1.id));
    const ven = await Api.login(vtn.url, 'ven-a', 'secret-a');
    assert.is((await ven.ok('GET', '/events', eventListSchema)).length, 50, 'the default page is the 50 the OpenAPI file allows');
    const p2Events = await ven.ok('GET', `/events?programID=${p2.id}`, eventListSchema);
    assert.is(p2Events.length, 11);
    assert.ok(p2Events.every((e) => e.programID === p2.id));
    const paged = await ven.ok('GET', `/events?programID=${p1.id}&skip=40&limit=5`, eventListSchema);
    assert.equal(paged.map((e) => e.id), vtn.events.filter((e) => e.programID === p1.id).slice(40, 45).map((e) => e.id));
    assert.is((await ven.refused('GET', '/events?limit=51')).status, 400);
    assert.is((await ven.refused('GET', '/events?skip=-1')).status, 400);
    assert.is((await ven.refused('GET', '/events?programID=bad%20id')).status, 400);
  });
});

test('active=true lists the events not yet over, by the VTN clock', async () => {
  await withVtn(async (vtn, clock) => {
    const p = await vtn.createProgram({ programName: 'ers-30' });
    const past = await vtn.createEvent(simpleEvent(p.id, 1, '2026-06-01T10:00:00Z'));
    const now = await vtn.createEvent(simpleEvent(p.id, 2, '2026-06-01T11:30:00Z'));
    const later = await vtn.createEvent(simpleEvent(p.id, 3, '2026-06-01T15:00:00Z'));
    const ven = await Api.login(vtn.url, 'ven-a', 'secret-a');
    assert.equal((await ven.ok('GET', '/events?active=true', eventListSchema)).map((e) => e.id), [now.id, later.id]);
    assert.equal((await ven.ok('GET', '/events?active=false', eventListSchema)).map((e) => e.id), [past.id]);
    clock.advance(30 * 60_000);
    ven.token = await tokenFor(vtn.url, 'ven-a', 'secret-a');
    assert.equal((await ven.ok('GET', '/events?active=true', eventListSchema)).map((e) => e.id), [later.id]);
  });
});

test('A targeted event is read only by a VEN granted one of its targets, and shows only those', async () => {
  await withVtn(async (vtn) => {
    const p = await vtn.createProgram({ programName: 'ers-30' });
    const open = await vtn.createEvent(simpleEvent(p.id));
    const aimed = await vtn.createEvent({ ...simpleEvent(p.id, 3), targets: ['feeder-7', 'secret-group'] });
    const a = await Api.login(vtn.url, 'ven-a', 'secret-a');
    const v = await a.ok('POST', '/vens', venSchema, { venName: 'north-field' });
    assert.equal((await a.ok('GET', '/events', eventListSchema)).map((e) => e.id), [open.id]);
    assert.is((await a.refused('GET', `/events/${aimed.id}`)).status, 404);
    await vtn.grantTargets(v.id, ['feeder-7']);
    const seen = await a.ok('GET', '/events', eventListSchema);
    assert.equal(seen.map((e) => e.id), [open.id, aimed.id]);
    assert.equal(seen[1].targets, ['feeder-7'], 'targets not granted to the VEN are hidden');
    assert.equal(await a.ok('GET', '/events?targets=other', eventListSchema).then((l) => l.map((e) => e.id)), [open.id]);
    const bl = await Api.login(vtn.url, 'utility', 'bl-secret');
    assert.equal((await bl.ok('GET', `/events/${aimed.id}`, eventSchema)).targets, ['feeder-7', 'secret-group']);
  });
});

test('With strict targeting a VEN must name its targets in the query to read a targeted event', async () => {
  await withVtn(async (vtn) => {
    const p = await vtn.createProgram({ programName: 'ers-30' });
    const aimed = await vtn.createEvent({ ...simpleEvent(p.id), targets: ['feeder-7'] });
    const a = await Api.login(vtn.url, 'ven-a', 'secret-a');
    const v = await a.ok('POST', '/vens', venSchema, { venName: 'north-field' });
    await vtn.grantTargets(v.id, ['feeder-7']);
    assert.equal(await a.ok('GET', '/events', eventListSchema), []);
    assert.equal((await a.ok('GET', '/events?targets=feeder-7', eventListSchema)).map((e) => e.id), [aimed.id]);
  }, { strictTargets: true });
});

test('A VEN reports on an event; business logic and the operator see it, another VEN does not', async () => {
  await withVtn(async (vtn) => {
    const p = await vtn.createProgram({ programName: 'ers-30' });
    const e = await vtn.createEvent(simpleEvent(p.id));
    const a = await Api.login(vtn.url, 'ven-a', 'secret-a');
    const b = await Api.login(vtn.url, 'ven-b', 'secret-b');
    const report = {
      eventID: e.id,
      clientName: 'north-field',
      payloadDescriptors: [{ payloadType: 'USAGE', units: 'KWH', readingType: 'DIRECT_READ' }],
      resources: [{ resourceName: 'miners', intervalPeriod: { start: '2026-06-01T12:00:00Z', duration: 'PT15M' }, intervals: [{ id: 0, payloads: [{ type: 'USAGE', values: [2.5] }] }] }],
    };
    const r = await a.ok('POST', '/reports', reportSchema, report);
    assert.is(r.clientID, 'ven-a');
    assert.is((await b.refused('GET', `/reports/${r.id}`)).status, 404);
    assert.equal(await b.ok('GET', '/reports', reportListSchema), []);
    const bl = await Api.login(vtn.url, 'utility', 'bl-secret');
    assert.equal((await bl.ok('GET', `/reports?programID=${p.id}`, reportListSchema)).map((x) => x.id), [r.id]);
    assert.is((await bl.refused('POST', '/reports', report)).status, 403, 'write_reports is the VENs\' alone');
    await a.ok('PUT', `/reports/${r.id}`, reportSchema, { ...report, reportName: 'final' });
    assert.equal(vtn.reportLog.map((x) => [x.clientId, x.operation]), [['ven-a', 'CREATE'], ['ven-a', 'UPDATE']]);
    assert.is(vtn.reports[0].reportName, 'final');
    assert.is((await a.refused('POST', '/reports', { ...report, eventID: 'event-999' })).status, 400);
  });
});

test('Bad requests get 400 problems that name what is wrong, and unknown paths 404 or 405', async () => {
  await withVtn(async (vtn) => {
    const bl = await Api.login(vtn.url, 'utility', 'bl-secret');
    const p = await bl.ok('POST', '/programs', programSchema, { programName: 'ers-30' });
    assert.match((await bl.refused('POST', '/events', '{"programID": ')).detail, /not JSON/);
    const noZone = await bl.refused('POST', '/events', simpleEvent(p.id, 1, '2026-06-01T12:00:00'));
    assert.is(noZone.status, 400);
    assert.match(noZone.detail, /intervalPeriod\.start/);
    const inf = await bl.refused('POST', '/events', '{"programID":"' + p.id + '","intervals":[{"id":0,"payloads":[{"type":"PRICE","values":[1e999]}]}]}');
    assert.match(inf.detail, /intervals\.0\.payloads\.0\.values\.0/);
    assert.match((await bl.refused('POST', '/events', { ...simpleEvent(p.id), intervalPeriod: { start: '2026-06-01T12:00:00Z', duration: '-PT1H' } })).detail, /negative duration/);
    assert.match((await bl.refused('POST', '/subscriptions', { clientName: 'x', objectOperations: [] })).detail, /objectOperations/);
    assert.match((await bl.refused('GET', '/events/bad%20id')).detail, /not an objectID/);
    assert.is((await bl.refused('GET', '/nothing-here')).status, 404);
    assert.is((await bl.refused('PATCH', '/events')).status, 405);
    assert.is((await bl.refused('POST', '/events', 'x'.repeat(1024 * 1024 + 1))).status, 413);
    assert.is((await call(`http://${HOST}:${vtn.port}/openadr3/3.0.1/events`)).status, 404, 'only the configured base is served');
  });
});

test('Operator updates and deletions change what the VEN reads; deleting a program deletes its events', async () => {
  await withVtn(async (vtn) => {
    const p = await vtn.createProgram({ programName: 'ers-30' });
    const e = await vtn.createEvent(simpleEvent(p.id, 1));
    const ven = await Api.login(vtn.url, 'ven-a', 'secret-a');
    await vtn.updateEvent(e.id, { intervals: [{ id: 0, payloads: [{ type: 'SIMPLE', values: [3] }] }] });
    const after = await ven.ok('GET', `/events/${e.id}`, eventSchema);
    assert.equal(after.intervals[0].payloads[0].values, [3]);
    assert.is(after.createdDateTime, e.createdDateTime);
    await vtn.deleteProgram(p.id);
    assert.equal(await ven.ok('GET', '/events', eventListSchema), []);
    const refused = await vtn.createEvent(simpleEvent(p.id)).then(() => 'created', (e: Error) => e.message);
    assert.match(refused, /400 programID/);
  });
});

test('A 3.0.1-style VTN without /auth/server answers 404 there, and /auth/token still works', async () => {
  await withVtn(async (vtn) => {
    assert.is((await call(`${vtn.url}/auth/server`)).status, 404);
    assert.ok((await tokenFor(vtn.url, 'ven-a', 'secret-a')).length > 0);
  }, { authServer: false });
});

test.run();
