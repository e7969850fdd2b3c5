/** `hashflex bench` — benchmarks (DESIGN.md §6). Not built yet: says so, exit 1. */
export async function benchCommand(_argv: string[]): Promise<number> {
  process.stderr.write('hashflex bench: not available in this version yet\n');
  return 1;
}
