import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleOptions, latin1Bundle, packageName, packageVersion } from '../package/build';

const ROOT = path.join(__dirname, '..', '..');

/**
 * The agent as boards run it: one esbuild bundle, no tsx.
 *
 * Uses the packaged bundle, dist/hashflex-VERSION/hashflex.js (the unpacked tree `npm run package`
 * leaves beside the tarball), when it is newer than every source file it is built from: it then
 * runs exactly as on a board, finding its native modules in the package's own node_modules/ (no
 * NODE_PATH). Otherwise (no package, or one older than the sources) it builds a throw-away bundle
 * into a temp dir with the package's own esbuild options; NODE_PATH lets that one find the
 * native modules in this checkout's node_modules.
 */
export interface Bundle {
  file: string;
  env: Record<string, string>;
  /** where it came from: "packaged (…)" or "built for the bench (…)" */
  source: string;
  cleanup(): void;
}

/** dirs and files the bundle is built from: a package older than any of them is stale */
const SOURCES = ['agent', 'drivers', 'sim', 'scripts/package', 'package.json', 'package-lock.json'];

/** newest mtime (ms) of the .ts/.js/.json files under `paths` (relative to `root`) */
export function newestSourceMtime(root: string, paths: string[] = SOURCES): number {
  let newest = 0;
  const visit = (p: string): void => {
    let st: fs.Stats;
    try {
      st = fs.statSync(p);
    } catch {
      return;
    }
    if (st.isDirectory()) {
      for (const e of fs.readdirSync(p)) visit(path.join(p, e));
    } else if (/\.(ts|js|json)$/.test(p)) {
      newest = Math.max(newest, st.mtimeMs);
    }
  };
  for (const rel of paths) visit(path.join(root, rel));
  return newest;
}

/** the packaged bundle if it exists and is fresh; otherwise why not (for the bench's source line) */
export function packagedBundle(root = ROOT, version = packageVersion()): { file: string; rel: string } | { stale: string } {
  const rel = path.join('dist', packageName(version), 'hashflex.js');
  const file = path.join(root, rel);
  if (!fs.existsSync(file)) return { stale: `no ${rel}` };
  if (fs.statSync(file).mtimeMs < newestSourceMtime(root)) return { stale: `${rel} is older than the sources` };
  return { file, rel };
}

export async function agentBundle(): Promise<Bundle> {
  const found = packagedBundle();
  if ('file' in found) return { file: found.file, env: {}, source: `packaged (${found.rel})`, cleanup: () => {} };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hashflex-bundle-'));
  const file = path.join(dir, 'hashflex.js');
  // esbuild comes with tsx (its only dependency); no extra package needed
  const esbuild = require('esbuild') as typeof import('esbuild');
  await esbuild.build(bundleOptions(file, packageVersion()));
  esbuild.stop(); // its service process would otherwise outlive the build
  latin1Bundle(file);
  return {
    file,
    env: { NODE_PATH: path.join(ROOT, 'node_modules') },
    source: `built for the bench (${found.stale}; esbuild, temp dir)`,
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
