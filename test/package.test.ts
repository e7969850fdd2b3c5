import { execFileSync, spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import YAML from 'yaml';
import { validateConfig } from '../agent/config';
import { startSimController, type SimController } from '../sim/controller';
import { SimSite } from '../sim/site';
import type { Scenario } from '../sim/scenarios/types';
import { buildPackage, type PackageResult } from '../scripts/package/build';
import { tmpdir, until, type Proc } from './harness/cli';

/**
 * The board package as a technician gets it: built with esbuild, unpacked into an empty
 * directory outside the repository, and run with `node` alone against the simulated site.
 */
const t = suite('board package');
const REPO = path.resolve(__dirname, '..');
const TOKEN = 'package-token-123';
const steady: Scenario = {
  name: 'steady', description: 'steady grid', durationS: 3600, nominalHz: 60,
  at: () => ({ hz: 60, generationKw: 3, baseLoadKw: 1, relay: false }),
};

let work = '';
let pkg: PackageResult;
let board = '';
let site: SimSite | undefined;
let controller: SimController | undefined;
let agentYaml = '';
const procs: Proc[] = [];

/** `node FILE ARGS` with a bare environment: no NODE_PATH, no NODE_OPTIONS (tsx), cwd = the package */
function bare(args: string[], cwd: string): Proc {
  const child = spawn(process.execPath, args, { cwd, env: { PATH: process.env.PATH, HASHFLEX_LOG: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { err += d; });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const p = { child, out: () => out, err: () => err, exited };
  procs.push(p);
  return p;
}

t.before(async () => {
  work = tmpdir('hashflex-package-');
  assert.ok(!work.startsWith(REPO), 'the test runs outside the repository');
  pkg = await buildPackage({ outDir: path.join(work, 'out') });
  board = path.join(work, 'board');
  fs.mkdirSync(board);
  execFileSync('tar', ['-xzf', pkg.tarball, '-C', board]);
  board = path.join(board, `hashflex-${pkg.version}`);
});

t.after(async () => {
  for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) { p.child.kill('SIGKILL'); await p.exited; }
  await site?.close();
  await controller?.close();
  fs.rmSync(work, { recursive: true, force: true });
});

t('the package holds the bundle, the native modules for x64, arm64 and armv7, the unit, the installer and a config', () => {
  for (const f of ['hashflex.js', 'hashflex.service', 'install.sh', 'agent.yaml', 'INSTALL.md', 'MANIFEST.json']) {
    assert.ok(fs.existsSync(path.join(board, f)), f);
  }
  const prebuilds = path.join(board, 'node_modules/@serialport/bindings-cpp/prebuilds');
  assert.equal(fs.readdirSync(prebuilds).sort(), ['linux-arm', 'linux-arm64', 'linux-x64']);
  assert.ok(fs.readdirSync(path.join(prebuilds, 'linux-arm')).some((f) => f.includes('armv7')), 'an armv7 prebuild');
  const binding = `node-v${process.versions.modules}-${process.platform}-${process.arch}`;
  assert.ok(fs.existsSync(path.join(board, 'node_modules/better-sqlite3/lib/binding', binding, 'better_sqlite3.node')));
  const manifest = JSON.parse(fs.readFileSync(path.join(board, 'MANIFEST.json'), 'utf8'));
  assert.is(manifest.version, pkg.version);
  for (const f of manifest.files as { path: string; sha256: string }[]) {
    assert.is(crypto.createHash('sha256').update(fs.readFileSync(path.join(board, f.path))).digest('hex'), f.sha256, f.path);
  }
  // one-byte text: a single character above U+00FF would make V8 keep the 3 MB source as UTF-16
  const above = [...fs.readFileSync(path.join(board, 'hashflex.js'), 'utf8')].filter((c) => c.charCodeAt(0) > 0xff);
  assert.equal(above, [], 'the bundle is Latin-1 text');
  // only natives and their loaders are outside the bundle: no sources, no dev tooling
  assert.not.ok(fs.existsSync(path.join(board, 'node_modules/ws')), 'ws is bundled');
  assert.not.ok(fs.existsSync(path.join(board, 'node_modules/better-sqlite3/deps')), 'no SQLite sources');
});

t('nothing from the repository is reachable from the unpacked package', () => {
  for (const m of ['ws', 'johnny-five', 'tsx', 'modbus-serial']) {
    assert.throws(() => require.resolve(m, { paths: [board] }), undefined, `${m} must not resolve from the package`);
  }
});

t('the bundled doctor, run with node alone, commissions the simulated site', async () => {
  controller = await startSimController({ token: TOKEN });
  site = await SimSite.start({ dir: path.join(work, 'sim'), boards: 2, chips: 20, scenario: steady });
  agentYaml = site.writeFiles({ uplinkUrl: controller.url, token: TOKEN, storageDir: path.join(work, 'data') }).agentYaml;
  const doctor = bare([path.join(board, 'hashflex.js'), 'doctor', '-c', agentYaml, '--json', '--settle-ms', '150'], board);
  const code = await doctor.exited;
  assert.is(code, 0, doctor.out() + doctor.err());
  const report = JSON.parse(doctor.out());
  assert.is(report.failed, 0);
  assert.ok(report.results.some((r: { check: string; status: string }) => r.check === 'board' && r.status === 'pass'));
});

t('the bundled agent, run with node alone from the package, reports telemetry to a WebSocket controller', async () => {
  const agent = bare([path.join(board, 'hashflex.js'), 'run', '-c', agentYaml], board);
  const tel = await until(() => {
    const f = controller!.latest('sim-board') as { grid: { hz: number }; boards: unknown[] } | undefined;
    return f && f.grid.hz > 59 ? f : undefined;
  }, `telemetry (agent stderr: ${agent.err().slice(0, 500)})`, 30_000);
  assert.is(tel.boards.length, 2);
  assert.is(controller!.agents.get('sim-board')!.hello.v, 1);
  // the journal is SQLite through the package's own better-sqlite3 binding
  assert.ok(fs.existsSync(path.join(work, 'data', 'journal.db')));
  agent.child.kill('SIGTERM');
  assert.is(await agent.exited, 0, agent.err());
});

t('install.sh stages a board image: files, unit with the node path, config kept on upgrade', () => {
  const root = path.join(work, 'root');
  const run = () => execFileSync('sh', [path.join(board, 'install.sh'), '--root', root], { encoding: 'utf8', env: { PATH: process.env.PATH } });
  assert.match(run(), /native modules load/);
  assert.ok(fs.existsSync(path.join(root, 'opt/hashflex/hashflex.js')));
  const unit = fs.readFileSync(path.join(root, 'etc/systemd/system/hashflex.service'), 'utf8');
  assert.match(unit, /^ExecStart=\/\S*node --max-semi-space-size=1 \/opt\/hashflex\/hashflex\.js run -c \/etc\/hashflex\/agent\.yaml$/m, 'the board\'s node, by absolute path, with the unit\'s flags');
  assert.not.match(unit, /@NODE@/);
  // the command runs the bundle as the service does (README "Footprint")
  const wrapper = fs.readFileSync(path.join(root, 'usr/local/bin/hashflex'), 'utf8');
  assert.match(wrapper, /^exec \/\S*node --max-semi-space-size=1 \/opt\/hashflex\/hashflex\.js "\$@"$/m, wrapper);
  assert.match(wrapper, /MALLOC_ARENA_MAX:=2/);
  fs.writeFileSync(path.join(root, 'etc/hashflex/agent.yaml'), '# edited on site\n');
  run();
  assert.is(fs.readFileSync(path.join(root, 'etc/hashflex/agent.yaml'), 'utf8'), '# edited on site\n', 'config kept');
  assert.ok(fs.existsSync(path.join(root, 'opt/hashflex.prev/hashflex.js')), 'previous version kept for rollback');
  assert.ok(fs.statSync(path.join(root, 'usr/local/bin/hashflex')).mode & 0o111);
});

t('install.sh takes a better-sqlite3 release prebuild when the package has no binding for the board', () => {
  // a board whose arch/ABI the package lacks: its binding dir removed; the technician brings the
  // GitHub release file (here made from this machine's real binding, in the release's layout)
  const pkgCopy = path.join(work, 'pkg-nobinding');
  fs.cpSync(board, pkgCopy, { recursive: true });
  const bindingDir = `node-v${process.versions.modules}-${process.platform}-${process.arch}`;
  fs.rmSync(path.join(pkgCopy, 'node_modules/better-sqlite3/lib/binding', bindingDir), { recursive: true });
  const rel = path.join(work, 'release');
  fs.mkdirSync(path.join(rel, 'build/Release'), { recursive: true });
  fs.copyFileSync(path.join(board, 'node_modules/better-sqlite3/lib/binding', bindingDir, 'better_sqlite3.node'), path.join(rel, 'build/Release/better_sqlite3.node'));
  const tarball = path.join(work, `better-sqlite3-v12.11.1-node-v${process.versions.modules}-linux-${process.arch}.tar.gz`);
  execFileSync('tar', ['-czf', tarball, '-C', rel, 'build']);
  const root = path.join(work, 'root2');
  const out = execFileSync('sh', [path.join(pkgCopy, 'install.sh'), '--root', root, '--sqlite-prebuilt', tarball], { encoding: 'utf8', env: { PATH: process.env.PATH } });
  assert.match(out, /better-sqlite3 binding from/);
  assert.match(out, /native modules load/);
  assert.ok(fs.existsSync(path.join(root, 'opt/hashflex/node_modules/better-sqlite3/lib/binding', bindingDir, 'better_sqlite3.node')));
});

t('the systemd unit restarts on failure under a watchdog, as an unprivileged user with the serial ports', () => {
  const unit = fs.readFileSync(path.join(REPO, 'deploy/hashflex.service'), 'utf8');
  for (const line of ['Type=notify', 'NotifyAccess=all', 'WatchdogSec=10', 'Restart=on-failure', 'Environment=MALLOC_ARENA_MAX=2', 'RestartPreventExitStatus=2',
    'User=hashflex', 'SupplementaryGroups=dialout', 'ProtectSystem=strict', 'NoNewPrivileges=yes', 'StateDirectory=hashflex']) {
    assert.ok(unit.split('\n').includes(line), line);
  }
  assert.not.match(unit, /^MemoryDenyWriteExecute=yes/m, 'V8 needs W+X pages');
  // systemd's own parser, where there is one: unknown or misspelt directives are reported
  const file = path.join(work, 'hashflex.service');
  fs.writeFileSync(file, unit.replaceAll('@NODE@', process.execPath));
  const verify = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
  if (verify.error) return; // no systemd-analyze on this machine
  assert.is(verify.stderr.trim(), '', verify.stderr);
});

t('the default config is valid once its token file exists', () => {
  const doc = YAML.parse(fs.readFileSync(path.join(REPO, 'deploy/agent.yaml'), 'utf8'));
  const tokenFile = path.join(work, 'uplink.token');
  fs.writeFileSync(tokenFile, 'site-token-123\n');
  doc.uplink.token_file = tokenFile;
  const c = validateConfig(doc, path.join(work, 'agent.yaml'));
  assert.is(c.uplink?.token, 'site-token-123');
  assert.is(c.storage.dir, '/var/lib/hashflex');
});

t.run();
