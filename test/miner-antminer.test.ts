import { execFile } from 'node:child_process';
import http from 'node:http';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { VirtualClock } from '../agent/clock';
import { ErrorCode, isHashflexError } from '../agent/errors';
import { createMiner } from '../drivers/miner';
import { identify, type AntminerMiner } from '../drivers/miner/antminer';
import { rpcCall } from '../drivers/miner/rpc';
import { defaultConf, LOW_POWER_SHARE, type SimAntminer } from '../sim/miners/antminer';
import { STOCK_SPEC } from '../sim/miners/machine';
import { driverFor, minerOptions, startSim, webLines } from './fixtures/antminer/rig';

/**
 * The stock Antminer driver against the simulated firmware over real loopback TCP and HTTP
 * (addresses 127.20.1.x, the firmware's own ports 4028 and 80). Time for polls, confirmations and
 * nonce ages is virtual: each test calls refresh() where a poll would come, and advances the
 * clock the sim measures nonce ages on.
 */
const RATED = STOCK_SPEC.ratedKw;
const near = (a: number, b: number, tol = 0.02) => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

interface Ctx { clock: VirtualClock; sim: SimAntminer; miner: AntminerMiner }
let next = 1;
async function rig(simOver: Partial<Parameters<typeof startSim>[0]> = {}, over = {}, tuning = {}): Promise<Ctx> {
  const clock = new VirtualClock();
  const sim = await startSim({ host: `127.20.1.${next++}`, now: () => clock.monotonic(), ...simOver });
  // no poll or read-back falls due on its own: each test says when one comes (refresh())
  const miner = driverFor(sim, clock, { pollMs: 3_600_000, ...over }, { confirmMs: 3_600_000, ...tuning });
  return { clock, sim, miner };
}
async function done(c: Ctx): Promise<void> {
  await c.miner.close();
  await c.sim.close();
}

const s = suite('antminer driver over loopback');

s('start identifies the miner, reads its status and holds the config and a Digest challenge', async () => {
  const c = await rig();
  try {
    await c.miner.start();
    const st = c.miner.status();
    assert.is(st.fault, undefined);
    assert.is(st.state, 'hashing');
    assert.ok(st.on);
    assert.is(st.setting, 2);
    assert.not.ok(st.kwMeasured);
    assert.ok(near(st.kw, RATED), `kw ${st.kw}`);
    assert.ok(near(st.ths, STOCK_SPEC.ratedThs), `ths ${st.ths}`);
    assert.ok(st.tempC > 40 && st.tempC < 90, `temp ${st.tempC}`);
    const d = c.miner.details();
    assert.is(d.model, 'S19 Pro');
    assert.is(d.realm, 'antMiner Configuration');
    assert.ok(d.confHeld && d.challengeHeld);
    assert.is(d.fans.length, 4);
    assert.ok(st.counters.requests >= 5 && st.counters.frames >= 4, JSON.stringify(st.counters));
    assert.equal(c.miner.settings.min, 1);
    assert.equal(c.miner.settings.max, 2);
    assert.is(c.miner.settings.unit, 'mode');
    assert.ok(near(c.miner.settings.kwAt(1), RATED * LOW_POWER_SHARE));
    assert.ok(near(c.miner.settings.kwAt(2), RATED));
    assert.ok(c.miner.settings.kwAt(0) < 0.05);
  } finally {
    await done(c);
  }
});

s('stop is one signed POST with the config held, resolves once the CGI took it, and the machine\'s power then falls', async () => {
  const c = await rig();
  try {
    await c.miner.start();
    const from = c.sim.webLog.length;
    await c.miner.stop();
    assert.equal(webLines(c.sim, from), ['POST /cgi-bin/set_miner_conf.cgi 200'], 'one POST, no read first, no challenge');
    assert.ok(c.sim.webLog.at(-1)!.signed);
    assert.is(c.sim.mode, 1);
    assert.is(c.sim.machine.state, 'stopping');
    await c.miner.refresh();
    let st = c.miner.status();
    assert.not.ok(st.on);
    assert.is(st.setting, 0);
    assert.is(st.state, 'stopping', 'boards still winding down');
    c.sim.tick(2500);
    assert.ok(c.sim.machine.kw < RATED * 0.6 && c.sim.machine.kw > 0.1, `kw ${c.sim.machine.kw}`);
    c.sim.tick(3000);
    await c.miner.refresh();
    st = c.miner.status();
    assert.is(st.state, 'sleeping');
    assert.ok(st.kw < 0.05, `kw ${st.kw}`);
    assert.is(st.fault, undefined);
  } finally {
    await done(c);
  }
});

s('The whole config goes back: pools and every other key exactly as read, only the work mode changed', async () => {
  const pools = [
    { url: 'stratum+tcp://a.example:3333', user: 'acct.s19-01', pass: 'x,y "quoted"' },
    { url: 'stratum+ssl://b.example:4443', user: 'acct.s19-01', pass: '' },
  ];
  const c = await rig({ pools });
  try {
    const before = { ...c.sim.conf };
    await c.miner.start();
    await c.miner.stop();
    await c.miner.set(1);
    await c.miner.set(2);
    assert.is(c.sim.posts.length, 3);
    for (const p of c.sim.posts) {
      assert.equal(p.pools, pools);
      for (const [k, v] of Object.entries(before)) if (k !== 'bitmain-work-mode') assert.equal(p[k], v, k);
    }
    assert.equal(c.sim.posts.map((p) => p['miner-mode']), [1, 3, 0]);
    assert.equal(c.sim.conf, { ...before, 'bitmain-work-mode': '0' });
  } finally {
    await done(c);
  }
});

s('set(1) from sleep wakes into low power, set(2) ramps to normal; settings outside the scale are refused', async () => {
  const c = await rig({ mode: 1 });
  try {
    await c.miner.start();
    assert.is(c.miner.status().state, 'sleeping');
    assert.is(c.miner.status().setting, 0);
    await c.miner.set(1);
    assert.is(c.sim.machine.state, 'waking');
    await c.miner.refresh();
    assert.is(c.miner.status().state, 'waking');
    assert.ok(c.miner.status().on);
    c.sim.tick(STOCK_SPEC.wakeMs);
    await c.miner.refresh();
    let st = c.miner.status();
    assert.is(st.state, 'hashing');
    assert.is(st.setting, 1);
    assert.ok(near(st.kw, RATED * LOW_POWER_SHARE), `low power kw ${st.kw}`);
    await c.miner.set(2);
    c.sim.tick(STOCK_SPEC.rampMs);
    await c.miner.refresh();
    st = c.miner.status();
    assert.is(st.setting, 2);
    assert.ok(near(st.kw, RATED), `normal kw ${st.kw}`);
    for (const bad of [3, -1, 1.5, NaN]) {
      const e = await c.miner.set(bad).then(() => undefined, (x: unknown) => x);
      assert.ok(isHashflexError(e, ErrorCode.UsageInvalid), `set(${bad})`);
    }
    await c.miner.set(0);
    assert.is(c.sim.mode, 1);
  } finally {
    await done(c);
  }
});

s('After the nonce expires, the next config read renews it, so a later stop is still one POST', async () => {
  const c = await rig({ nonceTtlMs: 60_000 }, {}, { confEveryPolls: 1 });
  try {
    await c.miner.start();
    c.clock.advance(70_000);
    const from = c.sim.webLog.length;
    await c.miner.refresh();
    assert.equal(webLines(c.sim, from), ['GET /cgi-bin/get_miner_conf.cgi 401 stale', 'GET /cgi-bin/get_miner_conf.cgi 200']);
    const trip = c.sim.webLog.length;
    await c.miner.stop();
    assert.equal(webLines(c.sim, trip), ['POST /cgi-bin/set_miner_conf.cgi 200']);
  } finally {
    await done(c);
  }
});

s('Having seen how long a nonce lives, the driver renews it ahead of expiry on a read, never on the trip path', async () => {
  const c = await rig({ nonceTtlMs: 60_000 }, {}, { confEveryPolls: 1 });
  try {
    await c.miner.start();
    c.clock.advance(61_000);
    await c.miner.refresh(); // stale at 61 s: the driver learns the lifetime
    c.clock.advance(40_000); // that nonce is 40 s old: due for renewal (at 60 % of 61 s)
    const from = c.sim.webLog.length;
    await c.miner.refresh();
    assert.equal(webLines(c.sim, from).slice(-2), ['GET /cgi-bin/get_miner_conf.cgi 401', 'GET /cgi-bin/get_miner_conf.cgi 200']);
    assert.not.ok(c.sim.webLog[c.sim.webLog.length - 2].signed, 'renewed by an unsigned request');
    c.clock.advance(40_000); // the old nonce would be 80 s old now; the renewed one is 40 s
    const trip = c.sim.webLog.length;
    await c.miner.stop();
    assert.equal(webLines(c.sim, trip), ['POST /cgi-bin/set_miner_conf.cgi 200']);
  } finally {
    await done(c);
  }
});

s('A stop signed with a nonce the firmware has just expired gets its new challenge and is sent once more', async () => {
  const c = await rig();
  try {
    await c.miner.start();
    c.sim.expireNonces();
    const from = c.sim.webLog.length;
    await c.miner.stop();
    assert.equal(webLines(c.sim, from), ['POST /cgi-bin/set_miner_conf.cgi 401 stale', 'POST /cgi-bin/set_miner_conf.cgi 200']);
    assert.is(c.sim.mode, 1);
  } finally {
    await done(c);
  }
});

s('A wrong password is a clear fault; the stop is refused and nothing is written; readings still come', async () => {
  const c = await rig({ password: 'not-root' });
  try {
    await c.miner.start();
    const st = c.miner.status();
    assert.match(st.fault ?? '', /credentials refused/);
    assert.ok(near(st.ths, STOCK_SPEC.ratedThs), 'the 4028 API needs no password');
    const e = await c.miner.stop().then(() => undefined, (x: unknown) => x);
    assert.ok(isHashflexError(e, ErrorCode.DeviceFault), String(e));
    assert.match((e as Error).message, /credentials refused/);
    assert.is(c.sim.posts.length, 0);
    assert.is(c.sim.mode, 0);
    assert.is(c.sim.machine.state, 'hashing');
  } finally {
    await done(c);
  }
});

s('The configured password is used; a miner that was down at start costs one read before its first stop', async () => {
  const c = await rig({ password: 'site-secret' }, { password: 'site-secret' });
  try {
    c.sim.machine.faults.down = true;
    await c.miner.start();
    assert.is(c.miner.status().state, 'unreachable');
    assert.not.ok(c.miner.details().confHeld);
    c.sim.machine.faults.down = false;
    const from = c.sim.webLog.length;
    await c.miner.stop();
    assert.equal(webLines(c.sim, from).filter((l) => !l.includes(' 401')), ['GET /cgi-bin/get_miner_conf.cgi 200', 'POST /cgi-bin/set_miner_conf.cgi 200']);
    assert.equal(c.sim.conf.pools, defaultConf().pools);
    assert.is(c.sim.mode, 1);
  } finally {
    await done(c);
  }
});

s('Firmware that answers M000 but wants miner-mode as a string: the read-back catches it and the mode is sent again', async () => {
  const c = await rig({ modeAsString: true });
  try {
    await c.miner.start();
    await c.miner.stop();
    assert.is(c.sim.mode, 0, 'the firmware ignored a numeric miner-mode');
    await c.miner.refresh(); // reads the config back: still normal -> sends "1"
    assert.is(c.sim.mode, 1);
    assert.is(c.sim.posts.at(-1)!['miner-mode'], '1');
    await c.miner.refresh();
    const st = c.miner.status();
    assert.is(st.fault, undefined);
    assert.is(st.setting, 0);
    assert.ok(c.miner.details().modeAsString);
    await c.miner.set(2);
    assert.is(c.sim.posts.at(-1)!['miner-mode'], '0', 'later writes use the string form at once');
    assert.is(c.sim.mode, 0);
  } finally {
    await done(c);
  }
});

s('While the firmware restarts its miner program after a write, a refused API is the change, not a fault', async () => {
  const c = await rig({ restartMs: 60_000 });
  try {
    await c.miner.start();
    await c.miner.stop();
    await c.miner.refresh();
    const st = c.miner.status();
    assert.is(st.fault, undefined);
    assert.is(st.state, 'stopping');
    assert.not.ok(st.on);
    c.clock.advance(31_000);
    assert.is(c.miner.status().state, 'unreachable', 'after the grace window it is a fault');
    assert.ok(c.miner.status().fault);
  } finally {
    await done(c);
  }
});

s('A config read in flight when the stop goes out does not undo what the stop wrote', async () => {
  const c = await rig({}, {}, { confEveryPolls: 1 });
  try {
    await c.miner.start();
    const poll = c.miner.refresh(); // reads summary, stats and the config (still normal)
    await c.miner.stop();
    await poll;
    assert.is(c.miner.status().setting, 0);
    assert.not.ok(c.miner.status().on);
    await c.miner.refresh(); // the read-back confirms sleep
    assert.is(c.miner.status().setting, 0);
    assert.is(c.miner.status().fault, undefined);
    assert.is(c.sim.posts.length, 1, 'no second write');
  } finally {
    await done(c);
  }
});

s('One driver, one host: stopping one miner leaves its neighbour alone', async () => {
  const a = await rig();
  const b = await rig();
  try {
    await a.miner.start();
    await b.miner.start();
    await a.miner.stop();
    assert.is(a.sim.mode, 1);
    assert.is(b.sim.mode, 0);
    assert.is(b.sim.posts.length, 0);
  } finally {
    await done(a);
    await done(b);
  }
});

s('The registry builds this driver for driver: antminer', async () => {
  const clock = new VirtualClock();
  const m = createMiner(minerOptions({ host: '127.20.1.250', ports: { api: 4028, web: 80 } }), clock);
  assert.is(m.driver, 'antminer');
  await m.close();
});

s('identify() takes the evidence discover gathers from the sim (4028 version and devdetails, GET /) as a stock Antminer', async () => {
  const c = await rig({ model: 'Antminer S21' });
  try {
    const t = { host: c.sim.host, port: c.sim.ports.api, timeoutMs: 500 };
    const version = await rpcCall(t, 'version');
    const devdetails = await rpcCall(t, 'devdetails');
    const web = await new Promise<{ status: number; headers: Record<string, string>; body: string }>((resolve, reject) => {
      http.get({ host: c.sim.host, port: c.sim.ports.web, path: '/' }, (res) => {
        let body = '';
        res.on('data', (d) => { body += d; });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers as Record<string, string>, body }));
      }).on('error', reject);
    });
    assert.is(web.status, 401);
    assert.equal(identify({ version, devdetails, web }), { make: 'Bitmain', model: 'S21', firmware: 'stock Thu Jul 27 14:29:16 CST 2023', driver: 'antminer' });
  } finally {
    await done(c);
  }
});

const curl = suite('antminer sim digest against curl');
const run = (args: string[]) => new Promise<string>((resolve, reject) => execFile('curl', args, { timeout: 5000 }, (e, out) => (e ? reject(e) : resolve(out))));
const haveCurl = () => new Promise<boolean>((r) => execFile('curl', ['--version'], (e) => r(!e)));

curl('curl --digest reads and writes the sim\'s config with the right password and gets 401 with a wrong one', async () => {
  if (!(await haveCurl())) return console.log('  (curl not installed: skipped)');
  const sim = await startSim({ host: '127.20.3.1' });
  try {
    const base = `http://${sim.host}:${sim.ports.web}/cgi-bin`;
    const conf = JSON.parse(await run(['-s', '--digest', '-u', 'root:root', `${base}/get_miner_conf.cgi`]));
    assert.equal(conf.pools, defaultConf().pools);
    const code = await run(['-s', '-o', '/dev/null', '-w', '%{http_code}', '--digest', '-u', 'root:wrong', `${base}/get_miner_conf.cgi`]);
    assert.is(code, '401');
    const reply = JSON.parse(await run(['-s', '--digest', '-u', 'root:root', '--data-binary', JSON.stringify({ ...conf, 'miner-mode': 1 }), `${base}/set_miner_conf.cgi`]));
    assert.is(reply.code, 'M000');
    assert.is(sim.mode, 1);
  } finally {
    await sim.close();
  }
});

s.run();
curl.run();
