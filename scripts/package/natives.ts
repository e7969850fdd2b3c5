import fs from 'node:fs';
import path from 'node:path';

/**
 * The modules that stay outside the board bundle because they load native code, copied into the
 * package's own node_modules/ with the pure-JS dependencies they need at run time. Node's
 * ordinary resolution then finds them from the bundle beside that directory, so their loaders
 * (node-gyp-build for serialport, `bindings` for better-sqlite3) work unmodified.
 */

/** serialport prebuilds shipped: the boards we support (bindings-cpp 13 ships N-API prebuilds) */
export const SERIALPORT_PLATFORMS = ['linux-x64', 'linux-arm64', 'linux-arm'] as const;

/** package.json keys kept in the shipped copies: no install scripts, no dev metadata */
const KEEP_KEYS = ['name', 'version', 'description', 'main', 'exports', 'type', 'license', 'dependencies', 'gypfile'];
/** never shipped: nested modules, docs and tests */
const SKIP = new Set(['node_modules', 'docs', 'test', 'tests', '.github', 'README.md', 'CHANGELOG.md']);
/** also not shipped from a native module: its C sources and build tree (binaries go in explicitly) */
const SKIP_NATIVE = new Set([...SKIP, 'src', 'deps', 'build', 'prebuilds', 'binding.gyp']);

export interface CopiedModule {
  name: string;
  version: string;
  dest: string;
}

/** copy `name` as resolved from `fromDir` into `destNodeModules`, then its dependencies */
export function copyModule(name: string, fromDir: string, destNodeModules: string, out: CopiedModule[] = []): CopiedModule[] {
  const src = packageDir(name, fromDir);
  const pkg = JSON.parse(fs.readFileSync(path.join(src, 'package.json'), 'utf8')) as Record<string, unknown> & { version: string; dependencies?: Record<string, string> };
  const dest = path.join(destNodeModules, name);
  const existing = readVersion(dest);
  if (existing === pkg.version) return out;
  // another version already sits at the top: nest this one under its dependant
  if (existing !== undefined) throw new Error(`${name}: ${existing} and ${pkg.version} both needed (nest it)`);
  fs.mkdirSync(dest, { recursive: true });
  copyTree(src, dest, fs.existsSync(path.join(src, 'binding.gyp')) ? SKIP_NATIVE : SKIP);
  const trimmed = Object.fromEntries(KEEP_KEYS.filter((k) => k in pkg).map((k) => [k, pkg[k]]));
  fs.writeFileSync(path.join(dest, 'package.json'), JSON.stringify(trimmed, null, 2) + '\n');
  out.push({ name, version: pkg.version, dest });
  for (const dep of Object.keys(pkg.dependencies ?? {})) {
    // node-addon-api is a build-time header library (serialport's gyp), not needed to run
    if (dep === 'node-addon-api' || dep === 'prebuild-install') continue;
    const depSrc = packageDir(dep, src);
    const depVersion = readVersion(depSrc);
    const top = readVersion(path.join(destNodeModules, dep));
    if (top !== undefined && top !== depVersion) {
      copyModule(dep, src, path.join(dest, 'node_modules'), out);
    } else copyModule(dep, src, destNodeModules, out);
  }
  return out;
}

/** where Node would find package `name` from `fromDir` (walking up node_modules; ignores "exports") */
export function packageDir(name: string, fromDir: string): string {
  for (let dir = path.resolve(fromDir); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name);
    if (fs.existsSync(path.join(candidate, 'package.json'))) return candidate;
    if (path.dirname(dir) === dir) throw new Error(`cannot find ${name} from ${fromDir}`);
  }
}

function readVersion(dir: string): string | undefined {
  try {
    return (JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return undefined;
  }
}

function copyTree(src: string, dest: string, skip: Set<string>): void {
  for (const e of fs.readdirSync(src, { withFileTypes: true })) {
    if (skip.has(e.name) || e.name.endsWith('.d.ts') || e.name.endsWith('.map') || e.name.endsWith('.ts')) continue;
    const s = path.join(src, e.name);
    const d = path.join(dest, e.name);
    if (e.isDirectory()) {
      fs.mkdirSync(d, { recursive: true });
      copyTree(s, d, skip);
    } else if (e.isFile()) fs.copyFileSync(s, d);
  }
}

/** serialport's N-API prebuilds for our platforms, where node-gyp-build looks for them */
export function copySerialportPrebuilds(repoRoot: string, destNodeModules: string): string[] {
  const pkgDir = packageDir('@serialport/bindings-cpp', repoRoot);
  const shipped: string[] = [];
  for (const platform of SERIALPORT_PLATFORMS) {
    const from = path.join(pkgDir, 'prebuilds', platform);
    const to = path.join(destNodeModules, '@serialport', 'bindings-cpp', 'prebuilds', platform);
    if (!fs.existsSync(from)) throw new Error(`@serialport/bindings-cpp has no prebuilds for ${platform}`);
    fs.mkdirSync(to, { recursive: true });
    for (const f of fs.readdirSync(from)) {
      fs.copyFileSync(path.join(from, f), path.join(to, f));
      shipped.push(`${platform}/${f}`);
    }
  }
  return shipped;
}

/**
 * better-sqlite3's binding goes where the `bindings` loader looks after build/:
 * lib/binding/node-v<ABI>-<platform>-<arch>/better_sqlite3.node. Several can sit side by side
 * (one per board architecture), and the right one is picked at run time.
 */
export function sqliteBindingDir(destNodeModules: string, abi: string, platform: string, arch: string): string {
  return path.join(destNodeModules, 'better-sqlite3', 'lib', 'binding', `node-v${abi}-${platform}-${arch}`);
}

/** the binding compiled on this machine by `npm install` (for this platform, arch and Node ABI only) */
export function copyLocalSqliteBinding(repoRoot: string, destNodeModules: string): string {
  const pkgDir = packageDir('better-sqlite3', repoRoot);
  const from = path.join(pkgDir, 'build', 'Release', 'better_sqlite3.node');
  const dir = sqliteBindingDir(destNodeModules, process.versions.modules, process.platform, process.arch);
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(from, path.join(dir, 'better_sqlite3.node'));
  return path.basename(dir);
}

/**
 * A prebuilt binding a technician (or CI with network) downloaded from better-sqlite3's GitHub
 * releases: better-sqlite3-v<VER>-node-v<ABI>-<platform>-<arch>.tar.gz holding
 * build/Release/better_sqlite3.node. Returns the target directory name.
 */
export function parsePrebuiltName(file: string): { version: string; abi: string; platform: string; arch: string } {
  const m = /better-sqlite3-v([\d.]+)-node-v(\d+)-(linux)-(x64|arm64|arm)\.tar\.gz$/.exec(path.basename(file));
  if (!m) throw new Error(`${file}: expected better-sqlite3-vVER-node-vABI-linux-ARCH.tar.gz (from the better-sqlite3 GitHub release)`);
  return { version: m[1], abi: m[2], platform: m[3], arch: m[4] };
}
