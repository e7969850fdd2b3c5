import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');

/**
 * The agent as boards run it: one esbuild bundle, no tsx. Uses the packaged bundle when one
 * exists (dist/hashflex.js or build/hashflex.js, from scripts/package), otherwise builds a
 * throw-away one into a temp dir. Native modules and ws's optional native helpers stay
 * external; NODE_PATH lets the bundle find them in this checkout's node_modules.
 */
export interface Bundle {
  file: string;
  env: Record<string, string>;
  /** where it came from: "packaged" or "built for the bench" */
  source: string;
  cleanup(): void;
}

export async function agentBundle(): Promise<Bundle> {
  const env = { NODE_PATH: path.join(ROOT, 'node_modules') };
  for (const rel of ['dist/hashflex.js', 'build/hashflex.js']) {
    const file = path.join(ROOT, rel);
    if (fs.existsSync(file)) return { file, env, source: `packaged (${rel})`, cleanup: () => {} };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hashflex-bundle-'));
  const entry = path.join(dir, 'entry.ts');
  fs.writeFileSync(entry, `import { main } from ${JSON.stringify(path.join(ROOT, 'agent', 'cli'))};\n` +
    `void main(process.argv.slice(2)).then((c) => { if (typeof c === 'number') process.exitCode = c; });\n`);
  const file = path.join(dir, 'hashflex.js');
  // esbuild comes with tsx (its only dependency); no extra package needed
  const esbuild = require('esbuild') as { build(o: Record<string, unknown>): Promise<unknown>; stop(): void };
  await esbuild.build({
    entryPoints: [entry], outfile: file, bundle: true, platform: 'node', target: 'node20', format: 'cjs', logLevel: 'error',
    external: ['better-sqlite3', '@serialport/bindings-cpp', 'bufferutil', 'utf-8-validate'],
  });
  esbuild.stop(); // its service process would otherwise outlive the build

  return { file, env, source: 'built for the bench (esbuild, temp dir)', cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
