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
  // as a package built elsewhere: its MANIFEST.json does not list what it does not hold
  const manifestFile = path.join(pkgCopy, 'MANIFEST.json');
  const m = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as { files: { path: string }[] };
  m.files = m.files.filter((f) => !f.path.includes(`/${bindingDir}/`));
  fs.writeFileSync(manifestFile, JSON.stringify(m, null, 2));
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

/** `sh install.sh ARGS` from `dir`: exit status, stdout, stderr (never throws) */
function installSh(dir: string, args: string[], env: NodeJS.ProcessEnv = { PATH: process.env.PATH }) {
  const r = spawnSync('/bin/sh', [path.join(dir, 'install.sh'), ...args], { encoding: 'utf8', env });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** a copy of the unpacked package, to damage */
function packageCopy(name: string): string {
  const dir = path.join(work, name);
  fs.cpSync(board, dir, { recursive: true });
  return dir;
}

t('install.sh --help prints its usage, not its own source', () => {
  const r = installSh(board, ['--help']);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /^usage: sudo \.\/install\.sh \[--start\] \[--sqlite-prebuilt FILE\] \[--root DIR\]\n/);
  for (const opt of ['--sqlite-prebuilt FILE', '--start', '--root DIR', '-h, --help']) assert.ok(r.out.includes(`  ${opt}`), opt);
  assert.match(r.out, /Exit status: 0 installed, 1 a check or step failed/);
  assert.not.match(r.out, /^#|set -eu|\$\(|^\s*(if|case|esac|fi)\b/m, 'no shell source in the usage');
  assert.is(installSh(board, ['-h']).out, r.out);
});

t('install.sh refuses an option without its value, or an unknown one, with exit 2 and no shell error', () => {
  const root = path.join(work, 'root-usage');
  for (const [args, msg] of [
    [['--root'], '--root needs a value'],
    [['--root', '--start'], "--root needs a value (got '--start')"],
    [['--sqlite-prebuilt'], '--sqlite-prebuilt needs a value'],
    [['--root', root, '--sqlite-prebuilt', path.join(work, 'no-such.tar.gz')], '--sqlite-prebuilt: no such file'],
    [['--root', root, '--start'], '--start and --root do not go together'],
    [['--frobnicate'], 'unknown option --frobnicate'],
  ] as [string[], string][]) {
    const r = installSh(board, args);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.out}${r.err}`);
    assert.ok(r.err.startsWith(`install.sh: ${msg}`), `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, /run \.\/install\.sh --help for the options/);
    assert.not.match(r.err, /parameter not set|unbound|shift count|Illegal number/, r.err);
    assert.is(r.out, '', 'nothing done');
  }
  assert.not.ok(fs.existsSync(root), 'nothing staged');
});

/** a PATH holding (links to) the tools install.sh uses, and not systemctl */
function pathWithout(name: string): string {
  const dir = fs.mkdtempSync(path.join(work, 'path-'));
  const tools = ['node', 'sed', 'mktemp', 'sha256sum', 'find', 'sort', 'comm', 'wc', 'tr', 'rm', 'mkdir', 'cp', 'mv', 'chown', 'chmod', 'head', 'cat', 'tar', 'dirname', 'basename'];
  for (const tool of tools) {
    if (tool === name) continue;
    const found = (process.env.PATH ?? '').split(':').map((d) => path.join(d, tool)).find((f) => { try { fs.accessSync(f, fs.constants.X_OK); return true; } catch { return false; } });
    assert.ok(found, `${tool} on PATH`);
    // links only, made in a fresh directory: nothing is ever written through one
    fs.symlinkSync(found, path.join(dir, tool));
  }
  return dir;
}

t('install.sh without systemctl on PATH stages the unit, says it is not enabled, and never says to start it', () => {
  const bin = pathWithout('systemctl');
  assert.is.not(spawnSync('/bin/sh', ['-c', 'command -v systemctl'], { env: { PATH: bin } }).status, 0, 'no systemctl on that PATH');
  const root = path.join(work, 'root-nosystemd');
  const r = installSh(board, ['--root', root], { PATH: bin });
  assert.is(r.code, 0, r.out + r.err);
  assert.ok(fs.existsSync(path.join(root, 'etc/systemd/system/hashflex.service')), 'the unit is written');
  assert.match(r.out, /staged under .*: no user created and no unit enabled; on the board, as root:/);
  assert.match(r.out, /systemctl daemon-reload && systemctl enable hashflex\.service/);
  assert.not.match(r.out, /hashflex\.service enabled|systemctl start/, 'nothing claims the unit is enabled, nor asks to start it');
});

t('install.sh verifies every file against MANIFEST.json with sha256sum and installs nothing on a mismatch', () => {
  const cases: [string, (dir: string) => void, RegExp][] = [
    ['a changed byte', (d) => fs.appendFileSync(path.join(d, 'hashflex.js'), '\n'), /^ {2}hashflex\.js: FAILED$/m],
    ['an edited config', (d) => fs.appendFileSync(path.join(d, 'agent.yaml'), '# on site\n'), /^ {2}agent\.yaml: FAILED$/m],
    ['a missing file', (d) => fs.rmSync(path.join(d, 'hashflex.service')), /hashflex\.service: (FAILED open or read|No such file)/],
    ['a file the manifest does not list', (d) => fs.writeFileSync(path.join(d, 'node_modules', 'evil.js'), 'module.exports = 1;\n'), /does not list \(nothing was installed\):\n {2}node_modules\/evil\.js$/m],
    ['a manifest that does not parse', (d) => fs.writeFileSync(path.join(d, 'MANIFEST.json'), '{'), /MANIFEST\.json does not parse/],
  ];
  cases.forEach(([what, damage, says], i) => {
    const dir = packageCopy(`pkg-tampered-${i}`);
    damage(dir);
    const root = path.join(work, `root-tampered-${i}`);
    const r = installSh(dir, ['--root', root]);
    assert.is(r.code, 1, `${what}: ${r.out}${r.err}`);
    assert.match(r.err, says, `${what}: ${r.err}`);
    if (i < 3) assert.match(r.err, /ERROR: the package does not match its MANIFEST\.json .*\n {2}Nothing was installed/, r.err);
    assert.not.ok(fs.existsSync(root), `${what}: nothing installed`);
  });
  // the intact package: every file checked
  const ok = installSh(board, ['--root', path.join(work, 'root-verified')]);
  assert.is(ok.code, 0, ok.err);
  const n = (JSON.parse(fs.readFileSync(path.join(board, 'MANIFEST.json'), 'utf8')) as { files: unknown[] }).files.length;
  assert.match(ok.out, new RegExp(`package verified: ${n} files match MANIFEST\\.json`));
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
