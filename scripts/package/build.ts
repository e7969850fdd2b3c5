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
 *   MANIFEST.json        version, build facts, sha256 of every file (install.sh checks each with
 *                        sha256sum, and refuses files it does not list, before installing anything)
 *
 * Usage: npm run package -- [--out DIR] [--sqlite-prebuilt FILE.tar.gz]...   (build-main.ts)
 */
const ROOT = path.resolve(__dirname, '..', '..');
/** modules left out of the bundle because they load native code (shipped in node_modules/) */
export const EXTERNAL = ['@serialport/bindings-cpp', 'better-sqlite3'];
/**
 * left out and not shipped: ws's optional native speed-ups (ws falls back to JS without them),
 * and esbuild, which only `hashflex bench footprint` uses on a development machine
 */
const NOT_SHIPPED = ['bufferutil', 'utf-8-validate', 'esbuild'];

/** the package's directory name (and its tarball's, without .tar.gz) */
export function packageName(version: string): string {
  return `hashflex-${version}`;
}

/** the version in package.json */
export function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

/**
 * esbuild options of the board bundle. `hashflex bench footprint` builds its throw-away bundle
 * with the same options (scripts/bench/bundle.ts), so it measures what the package ships.
 */
export function bundleOptions(outfile: string, version: string) {
  return {
    entryPoints: [path.join(__dirname, 'entry.ts')],
    outfile,
    bundle: true,
    platform: 'node' as const,
    target: 'node20',
    format: 'cjs' as const,
    // \u escapes for every non-ASCII character in strings and identifiers (see latin1Bundle)
    charset: 'ascii' as const,
    external: [...EXTERNAL, ...NOT_SHIPPED],
    // readable stack traces from the field: no minification (the bundle is ~3 MB unminified)
    minify: false,
    legalComments: 'none' as const,
    banner: { js: `#!/usr/bin/env node\n// hashflex ${version} board bundle; see INSTALL.md` },
    logLevel: 'silent' as const,
  };
}

/** ASCII stand-ins for what comments in our sources and dependencies use */
const COMMENT_ASCII: Record<string, string> = { '\u2013': '-', '\u2014': '--', '\u2026': '...', '\u2192': '->', '\u2190': '<-', '\u2264': '<=', '\u2265': '>=', '\u2248': '~', '\u03a9': 'ohm', '\u2019': "'", '\u201c': '"', '\u201d': '"' };

/**
 * Keep the bundle's text within Latin-1. Node reads the main script into one JS string, and V8
 * stores a string with a single character above U+00FF as UTF-16 throughout: the 3 MB bundle then
 * takes 6 MB of heap for as long as the agent runs (it keeps the source for lazy compilation).
 * esbuild's `charset: 'ascii'` escapes strings, regexps and identifiers; the comments it keeps
 * are what is left, so characters above U+00FF on comment lines (trimmed line starting with
 * `//`, `/*` or `*`) are replaced with ASCII. Returns how many were replaced, and how many such
 * characters remain elsewhere (0 expected; the package build warns otherwise).
 */
export function latin1Bundle(file: string): { replaced: number; remaining: number } {
  let replaced = 0;
  let remaining = 0;
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (!/[^\u0000-\u00ff]/.test(line)) continue;
    if (/^\s*(\/\/|\/\*|\*)/.test(line)) {
      lines[i] = line.replace(/[^\u0000-\u00ff]/gu, (c) => { replaced++; return COMMENT_ASCII[c] ?? '?'; });
    } else {
      remaining += (line.match(/[^\u0000-\u00ff]/gu) ?? []).length;
    }
  }
  if (replaced) fs.writeFileSync(file, lines.join('\n'));
  return { replaced, remaining };
}

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
  const version = packageVersion();
  const outDir = path.resolve(opts.outDir ?? path.join(ROOT, 'dist'));
  const name = packageName(version);
  const dir = path.join(outDir, name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });

  // esbuild is tsx's own dependency (pinned in devDependencies too); loaded here, not at top,
  // so the rest of the repo never needs it
  const esbuild = require('esbuild') as typeof import('esbuild');
  const tb = performance.now();
  const r = await esbuild.build(bundleOptions(path.join(dir, 'hashflex.js'), version));
  const bundleMs = performance.now() - tb;
  for (const w of r.warnings) log(`esbuild warning: ${w.text}`);
  const text = latin1Bundle(path.join(dir, 'hashflex.js'));
  if (text.remaining) log(`warning: hashflex.js holds ${text.remaining} characters above U+00FF outside comments: V8 will keep its source as UTF-16 (twice the memory)`);
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
