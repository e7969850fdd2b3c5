/**
 * The curtail-ack measurement as a program (scripts/bench-io-ack.ts):
 *   npx tsx scripts/bench-io-ack-main.ts [--curtails 200] [--no-load] [--via uplink|site|both] [--json]
 * Its own file, never imported (see scripts/bench-io-main.ts).
 */
const args = process.argv.slice(2);
const val = (k: string) => { const i = args.indexOf(k); return i >= 0 ? args[i + 1] : undefined; };
process.env.HASHFLEX_LOG ??= 'error'; // before the agent's modules load: the logger reads it once
const { benchIoAck, showIoAck } = require('./bench-io-ack') as typeof import('./bench-io-ack');
const via = val('--via') as 'uplink' | 'site' | 'both' | undefined;
if (via && !['uplink', 'site', 'both'].includes(via)) {
  process.stderr.write('bench-io-ack: --via uplink|site|both\n');
  process.exit(2);
}
benchIoAck({
  curtails: val('--curtails') ? Number(val('--curtails')) : undefined,
  load: !args.includes('--no-load'),
  via,
  log: (s) => process.stderr.write(`  ${s}\n`),
}).then((r) => {
  process.stdout.write(args.includes('--json') ? `${JSON.stringify(r)}\n` : `${showIoAck(r)}\n`);
  process.exit(r.violations === 0 ? 0 : 1);
}, (e) => { process.stderr.write(`bench-io-ack: ${(e as Error).message}\n`); process.exit(1); });
