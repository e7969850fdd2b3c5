import path from 'node:path';
import { build } from 'esbuild';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

/**
 * The command's modules import one another without a circle: the subcommands take UsageError
 * and the argument helpers from agent/cli-args.ts, never from the dispatcher (agent/cli.ts)
 * that loads them. A circle works by accident of load order (a class read before its module
 * has run is undefined) and breaks when someone adds an import. The graph is esbuild's, from
 * the same entries as the board bundle, lazy require()s included.
 */
const ROOT = path.join(__dirname, '..');

/** the first import circle in a graph, as a path that returns to its start, or undefined */
function findCircle(graph: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string): string[] | undefined => {
    if (state.get(f) === 'done') return undefined;
    if (state.get(f) === 'open') return [...stack.slice(stack.indexOf(f)), f];
    state.set(f, 'open');
    stack.push(f);
    for (const g of graph.get(f) ?? []) {
      const c = visit(g);
      if (c) return c;
    }
    stack.pop();
    state.set(f, 'done');
    return undefined;
  };
  for (const f of graph.keys()) {
    const c = visit(f);
    if (c) return c;
  }
  return undefined;
}

test('The hashflex command and its subcommands import one another without a circle', async () => {
  const r = await build({
    absWorkingDir: ROOT, entryPoints: ['agent/cli.ts', 'scripts/package/entry.ts'], bundle: true, write: false, metafile: true,
    platform: 'node', packages: 'external', outdir: path.join(ROOT, 'dist-never-written'), logLevel: 'silent',
  });
  const graph = new Map(Object.entries(r.metafile.inputs).map(([f, v]) => [f, v.imports.filter((i) => !i.external).map((i) => i.path)]));
  for (const f of ['agent/cli.ts', 'agent/cli-args.ts', 'agent/doctor.ts', 'agent/sim-command.ts', 'scripts/bench.ts']) assert.ok(graph.has(f), `${f} is in the graph`);
  assert.equal(graph.get('agent/cli-args.ts'), [], 'cli-args.ts imports nothing of ours');
  const circle = findCircle(graph);
  assert.is(circle, undefined, circle && `import circle: ${circle.join(' -> ')}`);
});

test('A circle is found when there is one (the check itself)', () => {
  const g = new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]]);
  assert.equal(findCircle(g), ['a', 'b', 'c', 'a']);
  assert.is(findCircle(new Map([['a', ['b']], ['b', []]])), undefined);
});

test.run();
