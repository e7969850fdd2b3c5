import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ErrorCode, HashflexError } from '../agent/errors';
import { discover, minerId } from '../drivers/miner/discover';
import { Slots } from '../drivers/miner/probe';
import { expandRanges, MAX_ADDRESSES } from '../drivers/miner/ranges';
import { SimAntminer } from '../sim/miners/antminer';
import { AvalonSim } from '../sim/miners/avalon';
import { startSimWhatsminer, WHATSMINER_V3_FIRMWARE, type SimWhatsminer } from '../sim/miners/whatsminer';

// `hashflex discover` over real loopback TCP and HTTP: each simulated miner and each stranger on
// an address of its own in 127.24.0.0/16, on the firmware's own ports (4028, 80, 4433). The
// command runs as its own process (bin/hashflex.js), as a technician runs it.

const ROOT = path.join(__dirname, '..');
const BIN = path.join(ROOT, 'bin', 'hashflex.js');

function hashflex(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, HASHFLEX_LOG: 'silent' }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException).code === 'number' ? Number((err as NodeJS.ErrnoException).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

type Closer = { close(): Promise<void> | void };

/** a TCP server on host:port; `onConn` decides what each connection gets */
function tcpServer(host: string, port: number, onConn: (s: net.Socket) => void): Promise<Closer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    onConn(s);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve({ close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }) }));
  });
}

function httpServer(host: string, port: number, handler: http.RequestListener): Promise<Closer> {
  const server = http.createServer(handler);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve({ close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) }));
  });
}

// ---- the ranges: kinds and size ---------------------------------------------------------------

const ranges = suite('discover ranges');

ranges('A /28 is its fourteen hosts, without the network and broadcast addresses', () => {
  const a = expandRanges(['127.24.0.0/28']);
  assert.is(a.length, 14);
  assert.is(a[0], '127.24.0.1');
  assert.is(a[13], '127.24.0.14');
  assert.equal(expandRanges(['10.0.1.21']), ['10.0.1.21']);
  assert.equal(expandRanges(['192.168.1.8/31']), ['192.168.1.8', '192.168.1.9']);
  // overlapping ranges are probed once per address
  assert.is(expandRanges(['10.0.1.0/24', '10.0.1.0/25']).length, 254);
});

ranges('Private, loopback and link-local ranges are scanned; anything else is refused whole', () => {
  for (const ok of ['10.0.0.0/20', '172.16.5.0/24', '172.31.255.0/24', '192.168.0.0/24', '127.0.0.1', '169.254.1.0/24']) expandRanges([ok]);
  for (const bad of ['8.8.8.0/24', '172.32.0.0/24', '192.168.0.0/15', '100.64.0.0/24', '0.0.0.0/0', '224.0.0.0/28', '::1', 'fe80::/120', 'not-an-address', '10.0.0.0/33']) {
    try {
      expandRanges(['10.0.1.0/24', bad]);
      assert.unreachable(`${bad} was accepted`);
    } catch (e) {
      assert.instance(e, HashflexError, bad);
      assert.is((e as HashflexError).code, ErrorCode.UsageInvalid, bad);
    }
  }
});

ranges(`More than ${MAX_ADDRESSES} addresses a run are refused, before any is listed`, () => {
  assert.is(expandRanges(['10.0.0.0/20']).length, 4094);
  for (const big of [['10.0.0.0/19'], ['10.0.0.0/8'], ['10.0.0.0/20', '10.1.0.0/24']]) {
    try {
      expandRanges(big);
      assert.unreachable(`${big.join(' ')} was accepted`);
    } catch (e) {
      assert.is((e as HashflexError).code, ErrorCode.UsageInvalid);
      assert.match((e as Error).message, /at most 4096/);
    }
  }
});

ranges('Config ids come from the model and the address', () => {
  assert.is(minerId('S19 Pro', '10.0.1.21', 'antminer'), 's19-pro-10-0-1-21');
  assert.is(minerId('Antminer S19', '10.0.1.21', 'antminer'), 's19-10-0-1-21');
  assert.is(minerId('M30S++VH40', '10.0.1.22', 'whatsminer'), 'm30sppvh40-10-0-1-22');
  assert.is(minerId('unknown', '10.0.1.23', 'whatsminer'), 'whatsminer-10-0-1-23');
  assert.is(minerId('AvalonMiner 1466', '10.0.1.24', 'avalon'), 'avalonminer-1466-10-0-1-24');
});

ranges.run();

// ---- a /28 with one miner of each family and two strangers ------------------------------------

const site = suite('discover a /28');
const SITE = '127.24.0.0/28';
const up: Closer[] = [];
let whatsminer: SimWhatsminer;
let work = '';

site.before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'hashflex-discover-'));
  up.push(await new SimAntminer({ host: '127.24.0.1', model: 'Antminer S19 Pro' }).start());
  whatsminer = await startSimWhatsminer({ id: 'wm', host: '127.24.0.2' });
  up.push(whatsminer);
  up.push(await new AvalonSim({ host: '127.24.0.3' }).start());
  up.push(await startSimWhatsminer({ id: 'wm3', host: '127.24.0.4', firmware: WHATSMINER_V3_FIRMWARE }));
  // a rogue host: something on 4028 that answers bytes that are not the API
  up.push(await tcpServer('127.24.0.5', 4028, (s) => { s.on('data', () => s.end('\x15\x03\x01\x00\x02garbage{"STATUS":\0')); }));
  // a web server that is no miner (a switch's admin page, say)
  up.push(await httpServer('127.24.0.6', 80, (_req, res) => { res.writeHead(200, { 'content-type': 'text/html' }); res.end('<html><title>Managed switch</title></html>'); }));
});

site.after(async () => {
  await Promise.all(up.splice(0).map((s) => s.close()));
  fs.rmSync(work, { recursive: true, force: true });
});

site('Each miner is one row: address, make, model, firmware, driver, power, hashrate, state; exit 0', async () => {
  const r = await hashflex(['discover', SITE, '--timeout-ms', '1000']);
  assert.is(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.equal(lines[0].split(/\s+/), ['address', 'make', 'model', 'firmware', 'driver', 'power', 'hashrate', 'state']);
  const rows = lines.slice(1);
  assert.is(rows.length, 4, r.stdout);
  assert.match(rows[0], /^127\.24\.0\.1\s+Bitmain\s+S19 Pro\s+stock .*antminer\s+3\.\d\d kW \(est\.\)\s+\d+\.\d TH\/s\s+hashing$/);
  assert.match(rows[1], /^127\.24\.0\.2\s+MicroBT\s+M30S\+\+VH40\s+20230314\.15\.Rel\s+whatsminer\s+3\.40 kW\s+\d+\.\d TH\/s\s+hashing$/);
  assert.match(rows[2], /^127\.24\.0\.3\s+Canaan\s+AvalonMiner 1466\s+stock \S+\s+avalon\s+\d\.\d\d kW\s+\d+\.\d TH\/s\s+hashing$/);
  assert.match(rows[3], /^127\.24\.0\.4\s+MicroBT\s+M60SVK30\s+20250214\.16\.1\s+whatsminer\s+3\.40 kW/);
  // the strangers are no rows; the closing line (stderr) counts them
  assert.not.match(r.stdout, /127\.24\.0\.[56]/);
  assert.match(r.stderr, /4 miners in 14 of 14 addresses \(127\.24\.0\.0\/28\).*2 other hosts answered/);
});

site('With --json, the miners and the hosts that answered as no known miner', async () => {
  const r = await hashflex(['discover', SITE, '--json', '--timeout-ms', '1000']);
  assert.is(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as Record<string, unknown> & { miners: Record<string, unknown>[]; unknown: Record<string, unknown>[] };
  assert.equal(doc.ranges, [SITE]);
  assert.is(doc.addresses, 14);
  assert.is(doc.probed, 14);
  assert.is(doc.deadline_reached, false);
  assert.equal(doc.miners.map((m) => [m.address, m.make, m.driver, m.id]), [
    ['127.24.0.1', 'Bitmain', 'antminer', 's19-pro-127-24-0-1'],
    ['127.24.0.2', 'MicroBT', 'whatsminer', 'm30sppvh40-127-24-0-2'],
    ['127.24.0.3', 'Canaan', 'avalon', 'avalonminer-1466-127-24-0-3'],
    ['127.24.0.4', 'MicroBT', 'whatsminer', 'm60svk30-127-24-0-4'],
  ]);
  const wm = doc.miners[1];
  assert.equal(Object.keys(wm).sort(), ['address', 'driver', 'firmware', 'id', 'kw', 'kw_measured', 'make', 'model', 'state', 'temp_c', 'ths'].sort());
  assert.is(wm.kw, 3.4);
  assert.is(wm.kw_measured, true);
  assert.is(wm.state, 'hashing');
  assert.is(doc.miners[0].kw_measured, false, 'stock Antminer reports no watts: an estimate');
  assert.equal(doc.unknown, [
    { address: '127.24.0.5', api: 'garbage', web: 'refused' },
    { address: '127.24.0.6', api: 'refused', web: 'http', http_status: 200 },
  ]);
});

site('--out writes a miners: section that config check accepts inside a config', async () => {
  const out = path.join(work, 'miners.yaml');
  const r = await hashflex(['discover', SITE, '--out', out, '--timeout-ms', '1000']);
  assert.is(r.code, 0, r.stderr);
  const section = fs.readFileSync(out, 'utf8');
  assert.match(section, /^miners:$/m);
  assert.match(section, /- id: s19-pro-127-24-0-1 .*\n    host: 127\.24\.0\.1\n    driver: antminer\n/);
  assert.match(section, /- id: avalonminer-1466-127-24-0-3 .*\n    host: 127\.24\.0\.3\n    driver: avalon\n/);
  assert.not.match(section, /password:/);
  assert.not.match(section, /127\.24\.0\.[56]/);
  const config = path.join(work, 'agent.yaml');
  fs.writeFileSync(config, `agent: { id: discover-site }\nmeter: { model: sdm630, tcp: "127.0.0.1:1502" }\n${section}`);
  const check = await hashflex(['config', 'check', config]);
  assert.is(check.code, 0, check.stdout + check.stderr);
  assert.match(check.stdout, /ok/);
});

site('No miner in the range: exit 1, and --out writes nothing', async () => {
  const out = path.join(work, 'none.yaml');
  const r = await hashflex(['discover', '127.24.0.6/32', '127.24.0.12/30', '--out', out, '--timeout-ms', '500']);
  assert.is(r.code, 1, r.stderr);
  assert.is(r.stdout, '');
  assert.match(r.stderr, /no miners in 3 of 3 addresses/);
  assert.not.ok(fs.existsSync(out));
});

site('A public range, or more than 4096 addresses, is bad usage: exit 2 and nothing sent', async () => {
  const pub = await hashflex(['discover', '8.8.8.0/24']);
  assert.is(pub.code, 2);
  assert.match(pub.stderr, /8\.8\.8\.0\/24: not a range discover scans; only private/);
  const big = await hashflex(['discover', '10.0.0.0/19']);
  assert.is(big.code, 2);
  assert.match(big.stderr, /8190 addresses to scan; discover scans at most 4096/);
  const none = await hashflex(['discover']);
  assert.is(none.code, 2);
  const badOpt = await hashflex(['discover', SITE, '--concurrency', '0']);
  assert.is(badOpt.code, 2);
  assert.match(badOpt.stderr, /--concurrency must be an integer 1\.\.1024/);
});

site('The probe only reads: no miner took a write or a token', async () => {
  const before = whatsminer.tokensIssued;
  const seen = whatsminer.requests.length;
  const r = await discover({ ranges: ['127.24.0.2/32'], timeoutMs: 1000, readStatus: false });
  assert.is(r.miners.length, 1);
  assert.is(r.miners[0].status, undefined);
  assert.is(whatsminer.tokensIssued, before);
  assert.equal(whatsminer.requests.slice(seen).map((q) => [q.api, q.cmd, q.secured]), [['v2', 'version', false], ['v2', 'devdetails', false]]);
});

site.run();

// ---- bounds: connections at once, time --------------------------------------------------------

const bounds = suite('discover bounds');
const held: Closer[] = [];
bounds.after(async () => { await Promise.all(held.splice(0).map((s) => s.close())); });

bounds('No more connections are open at once than --concurrency allows', async () => {
  let open = 0;
  let peak = 0;
  const slow = (s: net.Socket) => {
    open++;
    peak = Math.max(peak, open);
    s.on('close', () => { open--; });
    // a slow stranger: holds each connection 150 ms, then closes it
    setTimeout(() => s.destroy(), 150);
  };
  for (let i = 1; i <= 14; i++) {
    held.push(await tcpServer(`127.24.1.${i}`, 4028, slow));
    held.push(await tcpServer(`127.24.1.${i}`, 80, slow));
  }
  const slots = new Slots(3);
  const r = await discover({ ranges: ['127.24.1.0/28'], timeoutMs: 1000, concurrency: 3, slots });
  assert.is(r.probed, 14);
  assert.is(r.miners.length, 0);
  assert.ok(peak <= 3, `${peak} connections open at once`);
  assert.is(peak, 3, 'the bound is used');
  assert.is(slots.peak, 3);
});

bounds('A host that hangs costs one timeout, not the run', async () => {
  // accepts on both ports and never answers
  held.push(await tcpServer('127.24.2.1', 4028, () => {}));
  held.push(await tcpServer('127.24.2.1', 80, () => {}));
  const sim = await new AvalonSim({ host: '127.24.2.2' }).start();
  held.push(sim);
  const t0 = performance.now();
  const r = await discover({ ranges: ['127.24.2.0/29'], timeoutMs: 300, concurrency: 8 });
  const ms = performance.now() - t0;
  assert.equal(r.miners.map((m) => m.address), ['127.24.2.2']);
  assert.equal(r.unknown, []);
  // the hung host's 300 ms (4028 and 80 at once) and the miner's reading; generous for a loaded
  // machine: without the timeout the run would never end
  assert.ok(ms < 5000, `the run took ${Math.round(ms)} ms`);
});

bounds('At the deadline the run stops, says so, and counts what it did not probe', async () => {
  for (let i = 1; i <= 6; i++) {
    held.push(await tcpServer(`127.24.3.${i}`, 4028, () => {}));
    held.push(await tcpServer(`127.24.3.${i}`, 80, () => {}));
  }
  const t0 = performance.now();
  const r = await discover({ ranges: ['127.24.3.0/29'], timeoutMs: 20_000, concurrency: 2, deadlineMs: 400 });
  const ms = performance.now() - t0;
  assert.ok(r.deadlineReached);
  assert.is(r.interrupted, false);
  assert.is(r.addresses, 6);
  assert.is(r.probed, 0);
  // far below one 20 s timeout, generous for a loaded machine
  assert.ok(ms < 5000, `the run took ${Math.round(ms)} ms for a 400 ms deadline`);
});

bounds.run();

// ---- the web page alone ------------------------------------------------------------------------

const web = suite('discover by the web page');

web('With the API elsewhere, the web page alone tells an Antminer (its realm) and a Whatsminer (307 to LuCI)', async () => {
  const antminer = await new SimAntminer({ host: '127.24.5.1', ports: { api: 0 } }).start();
  const wm = await startSimWhatsminer({ id: 'wm-web', host: '127.24.5.2', ports: { api: 0 } });
  try {
    const r = await discover({ ranges: ['127.24.5.0/29'], timeoutMs: 1000, readStatus: false });
    assert.equal(r.miners.map((m) => [m.address, m.make, m.model, m.driver, m.id]), [
      ['127.24.5.1', 'Bitmain', 'Antminer', 'antminer', 'antminer-127-24-5-1'],
      ['127.24.5.2', 'MicroBT', 'unknown', 'whatsminer', 'whatsminer-127-24-5-2'],
    ]);
  } finally {
    await Promise.all([antminer.close(), wm.close()]);
  }
});

web.run();
