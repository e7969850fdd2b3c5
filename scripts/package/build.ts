import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  copyLocalSqliteBinding, copyModule, copySerialportPrebuilds, parsePrebuiltName, sqliteBindingDir,
} from './natives';

/**
 * `npm run package`: the board package, dist/hashflex-VERSION.tar.gz, holding
 *   hashflex.js          the agent and CLI as one esbuild bundle (no tsx, no sources)
 *   node_modules/        only the native modules and their run-time dependencies:
 *                        @serialport/bindings-cpp with prebuilds for linux-x64, linux-arm64, linux-arm,
 *                        better-sqlite3 with the binding(s) we have (see the README on arm boards)
 *   hashflex.service, install.sh, agent.yaml, INSTALL.md   from deploy/
 *   MANIFEST.json        version, build facts, sha256 of every file
 *
 * Usage: npm run package -- [--out DIR] [--sqlite-prebuilt FILE.tar.gz]...
 */
const ROOT = path.resolve(__dirname, '..', '..');
/** modules left out of the bundle because they load native code (shipped in node_modules/) */
export const EXTERNAL = ['@serialport/bindings-cpp', 'better-sqlite3'];
/**
 * left out and not shipped: ws's optional native speed-ups (ws falls back to JS without them),
 * and esbuild, which only `hashflex bench footprint` uses on a development machine
 */
const NOT_SHIPPED = ['bufferutil', 'utf-8-validate', 'esbuild'];

export interface PackageOptions {
  /** output directory (default dist/) */
  outDir?: string;
  /** better-sqlite3 GitHub-release prebuilds to add (one per board architecture) */
  sqlitePrebuilt?: string[];
  log?: (line: string) => void;
}

export interface PackageResult {
  tarball: string;
  /** the unpacked tree, kept beside the tarball */
  dir: string;
  version: string;
  bundleBytes: number;
  tarballBytes: number;
  bundleMs: number;
  totalMs: number;
  sqliteBindings: string[];
  serialportPrebuilds: string[];
}

export async function buildPackage(opts: PackageOptions = {}): Promise<PackageResult> {
  const log = opts.log ?? (() => undefined);
  const t0 = performance.now();
  const version = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const outDir = path.resolve(opts.outDir ?? path.join(ROOT, 'dist'));
  const name = `hashflex-${version}`;
  const dir = path.join(outDir, name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });

  // esbuild is tsx's own dependency (pinned in devDependencies too); loaded here, not at top,
  // so the rest of the repo never needs it
  const esbuild = require('esbuild') as typeof import('esbuild');
  const tb = performance.now();
  const r = await esbuild.build({
    entryPoints: [path.join(__dirname, 'entry.ts')],
    outfile: path.join(dir, 'hashflex.js'),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external: [...EXTERNAL, ...NOT_SHIPPED],
    // readable stack traces from the field: no minification (the bundle is ~2 MB either way)
    minify: false,
    legalComments: 'none',
    banner: { js: `#!/usr/bin/env node\n// hashflex ${version} board bundle; see INSTALL.md` },
    logLevel: 'silent',
  });
  const bundleMs = performance.now() - tb;
  for (const w of r.warnings) log(`esbuild warning: ${w.text}`);
  fs.chmodSync(path.join(dir, 'hashflex.js'), 0o755);

  const nm = path.join(dir, 'node_modules');
  for (const m of EXTERNAL) copyModule(m, ROOT, nm);
  const serialportPrebuilds = copySerialportPrebuilds(ROOT, nm);
  const sqliteBindings = [copyLocalSqliteBinding(ROOT, nm)];
  for (const file of opts.sqlitePrebuilt ?? []) sqliteBindings.push(addPrebuilt(file, nm));

  for (const f of ['hashflex.service', 'install.sh', 'agent.yaml', 'INSTALL.md']) {
    fs.copyFileSync(path.join(ROOT, 'deploy', f), path.join(dir, f));
  }
  fs.chmodSync(path.join(dir, 'install.sh'), 0o755);

  const bundleBytes = fs.statSync(path.join(dir, 'hashflex.js')).size;
  const manifest = {
    name: 'hashflex',
    version,
    built: new Date().toISOString(),
    node: { built_with: process.version, requires: '>=20' },
    sqlite_bindings: sqliteBindings,
    serialport_prebuilds: serialportPrebuilds,
    files: listFiles(dir).map((f) => ({ path: f, sha256: sha256(path.join(dir, f)) })),
  };
  fs.writeFileSync(path.join(dir, 'MANIFEST.json'), JSON.stringify(manifest, null, 2) + '\n');

  const tarball = path.join(outDir, `${name}.tar.gz`);
  // tar is on every build machine and every board; --owner/--group keep build users out of it
  execFileSync('tar', ['-czf', tarball, '--owner=0', '--group=0', '-C', outDir, name]);
  const result: PackageResult = {
    tarball, dir, version, bundleBytes, tarballBytes: fs.statSync(tarball).size,
    bundleMs: Math.round(bundleMs), totalMs: Math.round(performance.now() - t0), sqliteBindings, serialportPrebuilds,
  };
  log(`${path.relative(process.cwd(), tarball)}: ${kb(result.tarballBytes)} (bundle ${kb(bundleBytes)}, bundled in ${result.bundleMs} ms, package in ${result.totalMs} ms)`);
  log(`better-sqlite3 bindings: ${sqliteBindings.join(', ')}`);
  return result;
}

/** a better-sqlite3 release prebuild: its build/Release/better_sqlite3.node goes in lib/binding/ */
function addPrebuilt(file: string, nm: string): string {
  const p = parsePrebuiltName(file);
  const dest = sqliteBindingDir(nm, p.abi, p.platform, p.arch);
  fs.mkdirSync(dest, { recursive: true });
  execFileSync('tar', ['-xzf', path.resolve(file), '-C', dest, '--strip-components=2', 'build/Release/better_sqlite3.node']);
  return path.basename(dest);
}

function listFiles(dir: string, base = ''): string[] {
  return fs.readdirSync(path.join(dir, base), { withFileTypes: true }).flatMap((e) => {
    const rel = path.join(base, e.name);
    return e.isDirectory() ? listFiles(dir, rel) : [rel];
  }).sort();
}

function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function kb(n: number): string {
  return `${(n / 1024).toFixed(0)} KiB`;
}

if (require.main === module) {
  const { parseArgs } = require('node:util') as typeof import('node:util');
  const { values } = parseArgs({ options: { out: { type: 'string' }, 'sqlite-prebuilt': { type: 'string', multiple: true } } });
  buildPackage({ outDir: values.out, sqlitePrebuilt: values['sqlite-prebuilt'], log: (s) => console.log(s) })
    .catch((e: Error) => {
      console.error(`package: ${e.message}`);
      process.exitCode = 1;
    });
}
