import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Ven } from '../agent/grid/openadr/ven';
import { CLIENT, H, iso, rig, T0 } from './fixtures/openadr/rig';

/**
 * The VEN when the VTN is not what it should be: tokens that expire, refused credentials, an
 * outage and a restart during it, garbage, the wrong schema, a VTN that never answers, events
 * with payloads the agent must not act on, a damaged state file, and TLS with a private CA.
 * Each is a fault in status() or an ignored value with a log line; none a crash, none an action
 * outside an event's own terms.
 */

const TLS = path.join(__dirname, 'fixtures/vtn/tls');
const tls = { key: fs.readFileSync(path.join(TLS, 'server-key.pem')), cert: fs.readFileSync(path.join(TLS, 'server-cert.pem')) };

test('A token the VTN expired early is replaced after one refusal, and the poll goes on', async () => {
  const r = await rig();
  try {
    const p = await r.program();
    await r.ven.start();
    assert.is(r.vtn.tokensIssued(CLIENT.id), 1);
    r.vtn.expireTokens();
    await r.event(p, 'SIMPLE', [3]);
    await r.ven.poll();
    assert.is(r.vtn.tokensIssued(CLIENT.id), 2);
    assert.is(r.last?.curtail, true);
    assert.is(r.ven.status().connected, true);
    assert.is(r.ven.status().fault, undefined);
  } finally {
    await r.close();
  }
});

test('A token is refreshed before it expires, so no request is refused for an old one', async () => {
  const r = await rig({ vtn: { tokenTtlS: 120 } });
  try {
    await r.ven.start();
    await r.run(10 * 60_000, 5000);
    assert.ok(r.vtn.tokensIssued(CLIENT.id) >= 5, `tokens issued: ${r.vtn.tokensIssued(CLIENT.id)}`);
    assert.is(r.vtn.requests.filter((q) => q.status === 401).length, 0);
  } finally {
    await r.close();
  }
});

test('Refused credentials are a fault that says so, retried each poll, never logged', async () => {
  const r = await rig({ settings: { clientSecret: 'wrong-secret-456' } });
  try {
    await r.ven.start();
    const s = r.ven.status();
    assert.is(s.connected, false);
    assert.match(s.fault ?? '', /refused client ven-north: invalid_client/);
    assert.is(r.directives.length, 0);
    r.vtn.setClientSecret(CLIENT.id, 'wrong-secret-456');
    await r.run(30_000);
    assert.is(r.ven.status().connected, true, 'back once the credentials are right');
    const logged = r.log.all();
    assert.not.ok(logged.includes('wrong-secret-456'), 'the secret is not in the log');
    assert.not.ok(/access_token|Bearer [0-9a-f]{16}/.test(logged), 'nor a token');
  } finally {
    await r.close();
  }
});

test('Through a VTN outage the events in force stay in force on their own terms, and polling resumes', async () => {
  const r = await rig();
  try {
    const p = await r.program();
    await r.event(p, 'SIMPLE', [3], { intervalPeriod: { start: iso(T0), duration: 'PT2H' } });
    await r.ven.start();
    assert.is(r.last?.curtail, true);
    await r.vtn.down();
    await r.run(H);
    const s = r.ven.status();
    assert.is(s.connected, false);
    assert.ok(s.fault, 'the outage is a fault');
    assert.is(r.last?.curtail, true, 'still curtailed an hour into the outage');
    await r.run(H);
    assert.is(r.last?.curtail, false, 'ended at its own end, the VTN still away');
    await r.vtn.up();
    await r.run(30_000);
    assert.is(r.ven.status().connected, true);
    assert.is(r.ven.status().fault, undefined);
  } finally {
    await r.close();
  }
});

test('After a restart during an outage the events kept on disk are obeyed before the VTN answers', async () => {
  const r = await rig();
  try {
    const p = await r.program();
    await r.event(p, 'ALERT_GRID_EMERGENCY', ['shed'], { intervalPeriod: { start: iso(T0), duration: 'PT3H' } });
    await r.ven.start();
    assert.is(r.last?.curtail, true);
    await r.ven.stop();
    await r.vtn.down();
    r.directives.length = 0;
    r.ven = r.newVen();
    await r.ven.start();
    assert.is(r.directives[0]?.curtail, true, 'curtailed from the start');
    assert.is(r.ven.status().connected, false);
    assert.ok(r.log.has(/restored from disk/));
  } finally {
    await r.close();
  }
});

for (const fault of ['garbage', 'wrong-schema', 'error'] as const) {
  test(`A VTN answering ${fault} is a fault in status(), the events held kept, nothing else done`, async () => {
    const r = await rig();
    try {
      const p = await r.program();
      await r.event(p, 'SIMPLE', [1], { intervalPeriod: { start: iso(T0), duration: 'PT2H' } });
      await r.ven.start();
      assert.is(r.last?.minersMaxKw, 6);
      const n = r.directives.length;
      r.vtn.setFault(fault, /^\/(events|programs)/);
      await r.run(60_000);
      const s = r.ven.status();
      assert.is(s.connected, false);
      assert.match(s.fault ?? '', fault === 'garbage' ? /not JSON/ : fault === 'wrong-schema' ? /schema|readable id/ : /HTTP 500/);
      assert.is(r.directives.length, n, 'the directive untouched');
      assert.is(r.last?.minersMaxKw, 6);
      r.vtn.setFault();
      await r.run(30_000);
      assert.is(r.ven.status().connected, true);
    } finally {
      await r.close();
    }
  });
}

test('A VTN that never answers times out on the injected clock and is a fault', async () => {
  const r = await rig({ settings: { timeoutMs: 3000 } });
  try {
    await r.ven.start();
    r.vtn.setFault('hang');
    const asked = r.vtn.requests.length;
    const polled = r.ven.poll();
    // the request is at the VTN (its timeout armed) before the clock moves
    while (r.vtn.requests.length === asked) await new Promise((res) => setTimeout(res, 1));
    r.clock.advance(3000);
    await polled;
    assert.match(r.ven.status().fault ?? '', /no answer in 3000 ms/);
    r.vtn.setFault();
  } finally {
    await r.close();
  }
});

test('Events with unknown payload types or absurd values are ignored with a log line; a valid one beside them is obeyed', async () => {
  const r = await rig();
  try {
    const p = await r.program();
    const base = { programID: p, objectType: 'EVENT', createdDateTime: iso(T0), modificationDateTime: iso(T0), intervalPeriod: { start: iso(T0), duration: 'PT1H' } };
    r.vtn.injectRawEvent({ ...base, id: 'odd-1', intervals: [{ id: 0, payloads: [{ type: 'WARP_DRIVE', values: [9] }] }] });
    r.vtn.injectRawEvent({ ...base, id: 'odd-2', intervals: [{ id: 0, payloads: [{ type: 'IMPORT_CAPACITY_LIMIT', values: [1e15] }] }] });
    r.vtn.injectRawEvent({ ...base, id: 'odd-3', intervals: [{ id: 0, payloads: [{ type: 'SIMPLE', values: [99] }] }] });
    r.vtn.injectRawEvent({ ...base, id: 'odd-4', intervals: 'soon' });
    r.vtn.injectRawEvent({ ...base, id: 'odd-5', intervalPeriod: { start: iso(T0), duration: 'forever' }, intervals: [{ id: 0, payloads: [{ type: 'SIMPLE', values: [3] }] }] });
    await r.event(p, 'SIMPLE', [1]);
    await r.ven.start();
    assert.is(r.ven.status().connected, true);
    assert.is(r.last?.minersMaxKw, 6, 'the valid event obeyed');
    assert.is(r.last?.curtail, false);
    assert.is(r.last?.importLimitKw, undefined);
    const ignored = r.log.lines.filter((l) => /payload ignored|not the specification's schema/.test(l.msg));
    assert.ok(ignored.length >= 4, `${ignored.length} log lines`);
    assert.ok(ignored.some((l) => /WARP_DRIVE/.test(String(l.reason))));
  } finally {
    await r.close();
  }
});

test('An event the VTN turns unreadable keeps the version held, on its own terms', async () => {
  const r = await rig();
  try {
    const p = await r.program();
    const id = await r.event(p, 'SIMPLE', [3], { intervalPeriod: { start: iso(T0), duration: 'PT1H' } });
    await r.ven.start();
    assert.is(r.last?.curtail, true);
    const held = r.vtn.events.find((e) => e.id === id)!;
    await r.vtn.deleteEvent(id);
    r.vtn.injectRawEvent({ ...held, intervals: [{ id: 0, payloads: 'gone' }] });
    await r.ven.poll();
    assert.is(r.last?.curtail, true, 'still in force');
    await r.run(H);
    assert.is(r.last?.curtail, false, 'and over at its own end');
  } finally {
    await r.close();
  }
});

test('A damaged state file is set aside and the VEN starts fresh', async () => {
  const r = await rig();
  try {
    fs.mkdirSync(path.join(r.dataDir, 'openadr'), { recursive: true });
    fs.writeFileSync(path.join(r.dataDir, 'openadr', 'state.json'), '{"v":1,"events":[{"event":{"id":"x"}}]');
    await r.ven.start();
    assert.ok(r.log.has(/state not restored/));
    assert.ok(fs.readdirSync(path.join(r.dataDir, 'openadr')).some((f) => f.startsWith('state.json.bad-')));
    assert.is(r.ven.status().connected, true);
  } finally {
    await r.close();
  }
});

test('Over https with the CA file the VEN connects; without it the certificate is refused and said so', async () => {
  const good = await rig({ host: '127.28.0.1', vtn: { tls }, settings: { caFile: path.join(TLS, 'ca.pem') } });
  try {
    assert.ok(good.vtn.url.startsWith('https://'));
    await good.ven.start();
    assert.is(good.ven.status().connected, true);
  } finally {
    await good.close();
  }
  const bad = await rig({ host: '127.28.0.2', vtn: { tls } });
  try {
    await bad.ven.start();
    assert.is(bad.ven.status().connected, false);
    assert.match(bad.ven.status().fault ?? '', /CERT|certificate|UNABLE_TO_VERIFY/i);
    assert.is(bad.vtn.tokensIssued(CLIENT.id), 0, 'no secret sent to a server it could not verify');
  } finally {
    await bad.close();
  }
});

test('A CA file that cannot be read is a fault naming it, not a crash', async () => {
  const r = await rig({ settings: { caFile: '/nonexistent/vtn-ca.pem' } });
  try {
    await r.ven.start();
    assert.match(r.ven.status().fault ?? '', /openadr\.ca_file: cannot read \/nonexistent\/vtn-ca\.pem \(ENOENT\)/);
  } finally {
    await r.close();
  }
});

test('A VTN without /auth/server (3.0.1) is asked for tokens at its /auth/token', async () => {
  const r = await rig({ vtn: { authServer: false } });
  try {
    await r.ven.start();
    assert.is(r.ven.status().connected, true);
    assert.is(r.vtn.tokensIssued(CLIENT.id), 1);
  } finally {
    await r.close();
  }
});

test('An injected fetch carries every request in place of node:https', async () => {
  let calls = 0;
  const r = await rig();
  r.ven = new Ven(r.settings, {
    clock: r.clock, log: r.log.logger, dataDir: r.dataDir, read: () => r.reading, maxKw: 12,
    onDirective: (d) => r.directives.push(d),
    fetch: (input, init) => { calls++; return fetch(input, init); },
  });
  try {
    const p = await r.program();
    await r.event(p, 'SIMPLE', [3]);
    await r.ven.start();
    assert.is(r.last?.curtail, true);
    assert.is(calls, r.vtn.requests.length, 'each request the VTN saw went through it');
  } finally {
    await r.close();
  }
});

test('A VTN that refuses to let the VEN create its VEN object still has its events obeyed', async () => {
  const r = await rig();
  // the business logic provisions VEN objects here: a VEN's POST /vens is forbidden
  r.ven = new Ven(r.settings, {
    clock: r.clock, log: r.log.logger, dataDir: r.dataDir, read: () => r.reading, maxKw: 12,
    onDirective: (d) => r.directives.push(d),
    fetch: (input, init) => (init?.method === 'POST' && String(input).endsWith('/vens')
      ? Promise.resolve(new Response(JSON.stringify({ status: 403, title: 'Forbidden', detail: 'VEN objects are provisioned by the utility' }), { status: 403 }))
      : fetch(input, init)),
  });
  try {
    const p = await r.program();
    await r.event(p, 'SIMPLE', [3]);
    await r.ven.start();
    assert.is(r.last?.curtail, true, 'obeyed all the same');
    const s = r.ven.status();
    assert.is(s.connected, true);
    assert.match(s.fault ?? '', /not enrolled: .*HTTP 403 \(Forbidden: VEN objects are provisioned by the utility\)/);
  } finally {
    await r.close();
  }
});

test('The doctor\'s checks pass against a VTN that knows the VEN and its programs, and name what is missing', async () => {
  const r = await rig({ settings: { programs: ['ers-30', 'tou'] } });
  try {
    await r.program('ers-30');
    const first = await r.ven.check();
    assert.equal(first.map((c) => [c.item, c.status]), [['token', 'pass'], ['ven', 'pass'], ['programs', 'fail']]);
    assert.match(first[2].detail, /tou/);
    await r.program('tou');
    await r.ven.start();
    const then = await r.ven.check();
    assert.equal(then.map((c) => c.status), ['pass', 'pass', 'pass']);
    assert.match(then[1].detail, /is ven-/);
  } finally {
    await r.close();
  }
});

test('A VEN only checked, never started, stops cleanly and writes nothing (the doctor\'s use)', async () => {
  const r = await rig();
  try {
    await r.program();
    const ven = r.newVen();
    const results = await ven.check();
    assert.equal(results.map((c) => c.status), ['pass', 'pass', 'pass']);
    await ven.stop();
    assert.not.ok(fs.existsSync(path.join(r.dataDir, 'openadr')), 'no state written');
    assert.is(r.vtn.vens.length, 0, 'and nothing created at the VTN');
  } finally {
    await r.close();
  }
});

test.run();
