import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VirtualClock } from '../agent/clock';
import { eventListSchema, programListSchema, type EventRequest } from '../agent/grid/openadr/spec';
import { SimVtn } from '../sim/vtn';
import { Api, call } from './fixtures/vtn/client';

// loopback range of the VTN suites: 127.27.0.0/16 (this file: 127.27.0.5 and, over TLS, 127.27.0.6)
const HOST = '127.27.0.5';
const TLS_HOST = '127.27.0.6';
const CLIENTS = [{ id: 'ven-a', secret: 'secret-a' }];
const TLS = path.join(__dirname, 'fixtures/vtn/tls');

const event = (programID: string): EventRequest => ({
  programID,
  intervalPeriod: { start: '2026-06-01T12:00:00Z', duration: 'PT1H' },
  intervals: [{ id: 0, payloads: [{ type: 'SIMPLE', values: [1] }] }],
});

async function withVtn(fn: (vtn: SimVtn, api: Api) => Promise<void>): Promise<void> {
  const vtn = new SimVtn({ host: HOST, clients: CLIENTS });
  await vtn.listen();
  try {
    await fn(vtn, await Api.login(vtn.url, 'ven-a', 'secret-a'));
  } finally {
    await vtn.close();
  }
}

const errorCode = (e: unknown): string | undefined => ((e as { cause?: { code?: string } }).cause ?? {}).code;

test('A VTN that goes down refuses connections, and comes back on the same port with its objects', async () => {
  await withVtn(async (vtn, api) => {
    const p = await vtn.createProgram({ programName: 'ers-30' });
    const port = vtn.port;
    await vtn.down();
    const refused = await api.send('GET', '/programs').then(() => 'answered', (e: unknown) => errorCode(e));
    assert.is(refused, 'ECONNREFUSED');
    await vtn.up();
    assert.is(vtn.port, port);
    assert.equal((await api.ok('GET', '/programs', programListSchema)).map((x) => x.id), [p.id]);
  });
});

test('A hanging VTN accepts the request and never answers', async () => {
  await withVtn(async (vtn, api) => {
    vtn.setFault('hang');
    const t = Date.now();
    const outcome = await fetch(`${vtn.url}/programs`, { headers: { authorization: `Bearer ${api.token}` }, signal: AbortSignal.timeout(300) }).then(
      () => 'answered',
      (e: Error) => e.name,
    );
    assert.is(outcome, 'TimeoutError');
    assert.ok(Date.now() - t >= 290);
    vtn.setFault();
    await api.ok('GET', '/programs', programListSchema);
  });
});

test('Garbage, a wrong schema and a 500 are served where the test asks, and only there', async () => {
  await withVtn(async (vtn, api) => {
    const p = await vtn.createProgram({ programName: 'ers-30' });
    await vtn.createEvent(event(p.id));
    vtn.setFault('garbage', /^\/events/);
    const garbage = await api.send('GET', '/events');
    assert.is(garbage.status, 200);
    assert.is(garbage.json, undefined, 'not JSON');
    await api.ok('GET', '/programs', programListSchema);
    vtn.setFault('wrong-schema', /^\/events/);
    const wrong = await api.send('GET', '/events');
    assert.is(wrong.status, 200);
    assert.ok(Array.isArray(wrong.json));
    assert.not.ok(eventListSchema.safeParse(wrong.json).success, 'JSON, but not events');
    vtn.setFault('wrong-schema', /^\/auth\/token$/);
    const token = await call(`${vtn.url}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&client_id=ven-a&client_secret=secret-a' });
    assert.is((token.json as { access_token: unknown }).access_token, 42);
    vtn.setFault('error');
    assert.is((await api.refused('GET', '/programs')).status, 500);
    vtn.setFault();
    assert.is((await api.ok('GET', '/events', eventListSchema)).length, 1);
  });
});

test('An injected raw event is served after the valid ones, unchecked, for a VEN to refuse', async () => {
  await withVtn(async (vtn, api) => {
    const p = await vtn.createProgram({ programName: 'ers-30' });
    const good = await vtn.createEvent(event(p.id));
    vtn.injectRawEvent({ id: 'raw-1', programID: p.id, objectType: 'EVENT', intervals: [{ id: 0, payloads: [{ type: 'SIMPLE', values: ['max'] }] }], intervalPeriod: { start: 'tomorrow' } });
    const a = await api.send('GET', `/events?programID=${p.id}`);
    const list = a.json as { id: string }[];
    assert.equal(list.map((e) => e.id), [good.id, 'raw-1']);
    assert.not.ok(eventListSchema.safeParse(list).success);
    assert.equal(vtn.violations, [], 'a deliberate raw event is not a violation');
    vtn.clearRawEvents();
    assert.is((await api.ok('GET', '/events', eventListSchema)).length, 1);
  });
});

test('A reply that fails the specification is a recorded violation, a 500, and makes close() fail', async () => {
  // past year 9999 toISOString() writes "+010000-…", which is no RFC 3339 date-time
  const vtn = new SimVtn({ host: HOST, clients: CLIENTS, clock: new VirtualClock(Date.UTC(10000, 0, 1)) });
  await vtn.listen();
  let closed = 'closed';
  try {
    const api = await Api.login(vtn.url, 'ven-a', 'secret-a');
    const refused = await vtn.createProgram({ programName: 'y10k' }).then(() => 'created', (e: Error) => e.message);
    assert.match(refused, /invalid/);
    assert.is((await api.refused('GET', '/programs')).status, 500);
    assert.ok(vtn.violations.some((v) => /GET \/programs/.test(v.where) && /createdDateTime/.test(v.detail)));
  } finally {
    closed = await vtn.close().then(() => 'closed', (e: Error) => e.message);
  }
  assert.match(closed, /served what its own schemas refuse/);
});

test('Over https the VTN is reached with its CA file and refused without it', async () => {
  const vtn = new SimVtn({
    host: TLS_HOST,
    clients: CLIENTS,
    tls: { key: fs.readFileSync(path.join(TLS, 'server-key.pem')), cert: fs.readFileSync(path.join(TLS, 'server-cert.pem')) },
  });
  await vtn.listen();
  const get = (ca?: Buffer) =>
    new Promise<number | string>((resolve) => {
      https.get(`${vtn.url}/auth/server`, { ca }, (res) => { res.resume(); resolve(res.statusCode ?? 0); }).on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    });
  try {
    assert.ok(vtn.url.startsWith(`https://${TLS_HOST}:`));
    assert.is(await get(fs.readFileSync(path.join(TLS, 'ca.pem'))), 200);
    assert.match(String(await get()), /SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);
  } finally {
    await vtn.close();
  }
});

test.run();
