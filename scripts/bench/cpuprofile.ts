import fs from 'node:fs';
import path from 'node:path';

/**
 * Summarise V8 CPU profiles (`node --cpu-prof`, .cpuprofile JSON): where a process's time went,
 * by self time per function and per source (file, or package under node_modules), with idle,
 * GC and "(program)" (native work outside JS: I/O, IPC, syscalls) split out.
 *
 *   tsx scripts/bench/cpuprofile.ts FILE_OR_DIR... [--top N]
 *
 * For the fleet bench: `node --cpu-prof --cpu-prof-dir=DIR bin/hashflex.js bench fleet` profiles
 * the bench process and every sim host (fleet.ts passes --cpu-prof* on to them).
 */
interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

export interface ProfileSummary {
  file: string;
  wallS: number;
  /** share of wall time, in % */
  idle: number;
  gc: number;
  program: number;
  js: number;
  functions: { name: string; where: string; ms: number; pct: number }[];
  sources: { source: string; ms: number; pct: number }[];
}

export function summarise(file: string, top = 15): ProfileSummary {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  // timeDeltas[i] is the time before sample i; charge it to the sample's node
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
  const wallUs = p.endTime - p.startTime;
  const fns = new Map<string, { name: string; where: string; us: number }>();
  const srcs = new Map<string, number>();
  let idle = 0, gc = 0, program = 0, js = 0;
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    if (functionName === '(idle)') { idle += us; continue; }
    if (functionName === '(garbage collector)') { gc += us; continue; }
    if (functionName === '(program)' || functionName === '(root)') { program += us; continue; }
    js += us;
    const where = url ? `${short(url)}:${lineNumber + 1}` : '(native)';
    const key = `${functionName}@${where}`;
    const f = fns.get(key) ?? { name: functionName || '(anonymous)', where, us: 0 };
    f.us += us;
    fns.set(key, f);
    const src = source(url);
    srcs.set(src, (srcs.get(src) ?? 0) + us);
  }
  const pct = (us: number) => Math.round((1000 * us) / wallUs) / 10;
  return {
    file, wallS: Math.round(wallUs / 1e5) / 10, idle: pct(idle), gc: pct(gc), program: pct(program), js: pct(js),
    functions: [...fns.values()].sort((a, b) => b.us - a.us).slice(0, top).map((f) => ({ name: f.name, where: f.where, ms: Math.round(f.us / 1000), pct: pct(f.us) })),
    sources: [...srcs].sort((a, b) => b[1] - a[1]).slice(0, top).map(([s, us]) => ({ source: s, ms: Math.round(us / 1000), pct: pct(us) })),
  };
}

function short(url: string): string {
  const u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('node_modules/');
  if (nm >= 0) return u.slice(nm + 'node_modules/'.length);
  return path.relative(process.cwd(), u) || u;
}

/** a package under node_modules, node's own library, or a project file */
function source(url: string): string {
  if (!url) return '(native)';
  if (url.startsWith('node:')) return url;
  const u = url.replace(/^file:\/\//, '');
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u);
  return m ? m[1] : path.relative(process.cwd(), u) || u;
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  const t = argv.indexOf('--top');
  const top = t >= 0 ? Number(argv.splice(t, 2)[1]) : 15;
  const files = argv.flatMap((a) => (fs.statSync(a).isDirectory() ? fs.readdirSync(a).filter((f) => f.endsWith('.cpuprofile')).map((f) => path.join(a, f)) : [a]));
  for (const f of files) {
    const s = summarise(f, top);
    console.log(`${path.basename(f)}: ${s.wallS} s wall; idle ${s.idle} %, JS ${s.js} %, GC ${s.gc} %, (program) ${s.program} %`);
    console.log('  by source (self, % of wall):');
    for (const x of s.sources) console.log(`    ${String(x.pct).padStart(5)} %  ${x.source}`);
    console.log('  by function (self, % of wall):');
    for (const x of s.functions) console.log(`    ${String(x.pct).padStart(5)} %  ${x.name}  ${x.where}`);
  }
}
