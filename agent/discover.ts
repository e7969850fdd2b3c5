import fs from 'node:fs';
import path from 'node:path';
import { isHashflexError, ErrorCode } from './errors';
import { args, UsageError } from './cli-args';
import { discover, DISCOVER_DEFAULTS, type DiscoverResult, type FoundMiner } from '../drivers/miner/discover';
import { isMinerDriver } from '../drivers/miner';

/**
 * `hashflex discover CIDR… [--json] [--out FILE] [--timeout-ms N] [--concurrency N] [--deadline-s N]`
 * (DESIGN.md §7): finds the miners in the ranges (drivers/miner/discover.ts), prints one row each
 * (address, make, model, firmware, driver, power, hashrate, state) and with --out writes a
 * `miners:` section for the config. Exit 0 if it found any, 1 if none (or if interrupted),
 * 2 for bad usage (a range outside the allowed kinds, more than 4,096 addresses).
 *
 * Hosts that answer but are no miner of a known family are listed only with --json (`unknown`);
 * the table's closing line counts them.
 */
export async function discoverCommand(argv: string[]): Promise<number> {
  const { values, positionals } = args(argv, {
    json: { type: 'boolean' },
    out: { type: 'string' },
    'timeout-ms': { type: 'string' },
    concurrency: { type: 'string' },
    'deadline-s': { type: 'string' },
  }, Number.MAX_SAFE_INTEGER);
  if (positionals.length === 0) throw new UsageError('discover needs one or more ranges, e.g. "hashflex discover 10.0.1.0/24"');
  const timeoutMs = intOption(values['timeout-ms'], '--timeout-ms', 100, 60_000, DISCOVER_DEFAULTS.timeoutMs);
  const concurrency = intOption(values.concurrency, '--concurrency', 1, 1024, DISCOVER_DEFAULTS.concurrency);
  const deadlineS = intOption(values['deadline-s'], '--deadline-s', 1, 3600, DISCOVER_DEFAULTS.deadlineMs / 1000);
  const out = values.out as string | undefined;
  if (out !== undefined && !out.trim()) throw new UsageError('--out needs a FILE');

  // the drivers started for a reading log as in the agent (pino JSON on stderr); the table says
  // what matters, so they are quiet unless asked (HASHFLEX_LOG=info). Their logger is loaded
  // lazily with the drivers, after this line.
  process.env.HASHFLEX_LOG ??= 'error';
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let result: DiscoverResult;
  try {
    result = await discover({ ranges: positionals, timeoutMs, concurrency, deadlineMs: deadlineS * 1000, signal: stop.signal });
  } catch (e) {
    // a range refused (its kind, its size) is bad usage: nothing was sent
    if (isHashflexError(e, ErrorCode.UsageInvalid)) throw new UsageError(e.message);
    throw e;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }

  if (values.json) process.stdout.write(`${JSON.stringify(jsonOf(positionals, result), null, 2)}\n`);
  else process.stdout.write(table(result.miners));
  const said = (line: string) => process.stderr.write(`${line}\n`);
  if (!values.json) said(summary(positionals, result));
  if (result.deadlineReached) said(`discover: the run reached its deadline (${deadlineS} s): ${result.addresses - result.probed} of ${result.addresses} addresses not probed (raise --deadline-s or --concurrency, or scan a smaller range)`);
  if (result.interrupted) said(`discover: interrupted: ${result.addresses - result.probed} of ${result.addresses} addresses not probed`);
  if (out !== undefined) {
    if (result.miners.length === 0) said(`discover: no miners found: ${out} not written`);
    else {
      writeAtomic(out, configSection(positionals, result.miners));
      said(`discover: wrote ${result.miners.filter((m) => isMinerDriver(m.driver)).length} miners to ${out} (a "miners:" section; add it to a config with agent: and meter:)`);
    }
  }
  if (result.interrupted) return 1;
  return result.miners.length > 0 ? 0 : 1;
}

function intOption(v: unknown, name: string, min: number, max: number, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${name} must be an integer ${min}..${max}`);
  return n;
}

/** text a device sent, made safe for a terminal, a YAML comment and a table cell */
export function clean(s: string, max = 60): string {
  // eslint-disable-next-line no-control-regex
  const t = s.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

const num = (x: number): number | null => (Number.isFinite(x) ? x : null);

function jsonOf(ranges: string[], r: DiscoverResult) {
  return {
    ranges,
    addresses: r.addresses,
    probed: r.probed,
    deadline_reached: r.deadlineReached,
    interrupted: r.interrupted,
    elapsed_ms: Math.round(r.elapsedMs),
    miners: r.miners.map((m) => ({
      address: m.address,
      id: m.id,
      make: m.make,
      model: m.model,
      firmware: m.firmware,
      driver: m.driver,
      kw: m.status ? num(m.status.kw) : null,
      kw_measured: m.status ? m.status.kwMeasured : null,
      ths: m.status ? num(m.status.ths) : null,
      temp_c: m.status ? num(m.status.tempC) : null,
      state: m.status?.state ?? null,
      ...(m.status?.fault ? { fault: m.status.fault } : {}),
      ...(m.note ? { note: m.note } : {}),
    })),
    unknown: r.unknown.map((u) => ({
      address: u.address,
      api: u.api,
      web: u.web,
      ...(u.httpStatus !== undefined ? { http_status: u.httpStatus } : {}),
      ...(u.realm !== undefined ? { realm: u.realm } : {}),
    })),
  };
}

const HEAD = ['address', 'make', 'model', 'firmware', 'driver', 'power', 'hashrate', 'state'];

function rowOf(m: FoundMiner): string[] {
  const s = m.status;
  const power = s && Number.isFinite(s.kw) ? `${s.kw.toFixed(2)} kW${s.kwMeasured ? '' : ' (est.)'}` : '-';
  const hash = s && Number.isFinite(s.ths) ? `${s.ths.toFixed(1)} TH/s` : '-';
  const state = s ? (s.fault ? `${s.state}: ${clean(s.fault, 50)}` : s.state) : m.note ? `- (${clean(m.note, 50)})` : '-';
  return [m.address, clean(m.make, 20), clean(m.model, 28), clean(m.firmware, 36), m.driver, power, hash, state];
}

export function table(miners: FoundMiner[]): string {
  if (miners.length === 0) return '';
  const rows = [HEAD, ...miners.map(rowOf)];
  const widths = HEAD.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd()).join('\n') + '\n';
}

function summary(ranges: string[], r: DiscoverResult): string {
  const n = r.miners.length;
  const others = r.unknown.length ? `; ${r.unknown.length} other host${r.unknown.length === 1 ? '' : 's'} answered (not a known miner: --json lists them)` : '';
  return `discover: ${n === 0 ? 'no miners' : `${n} miner${n === 1 ? '' : 's'}`} in ${r.probed} of ${r.addresses} addresses (${ranges.join(' ')}) in ${(r.elapsedMs / 1000).toFixed(1)} s${others}`;
}

/**
 * The `miners:` section: one entry per miner with a built-in driver, id from model and address,
 * the driver filled in, no password (the firmware's default applies until one is added; see the
 * README's Secrets for password_file).
 */
export function configSection(ranges: string[], miners: FoundMiner[]): string {
  const lines = [
    `# hashflex discover ${ranges.join(' ')} (${new Date().toISOString()})`,
    '# passwords: the firmware defaults apply; add password_file: PATH where they were changed',
    'miners:',
  ];
  for (const m of miners) {
    const what = `${clean(m.make, 20)} ${clean(m.model, 28)}, ${clean(m.firmware, 36)}`;
    if (!isMinerDriver(m.driver)) {
      lines.push(`  # ${m.address}: ${what}: no built-in driver for "${clean(m.driver, 20)}", left out`);
      continue;
    }
    lines.push(`  - id: ${m.id}    # ${what}`, `    host: ${m.address}`, `    driver: ${m.driver}`);
  }
  return `${lines.join('\n')}\n`;
}

function writeAtomic(file: string, text: string): void {
  const abs = path.resolve(file);
  const tmp = `${abs}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text, { mode: 0o644 });
  fs.renameSync(tmp, abs);
}
