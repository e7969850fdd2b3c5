import fs from 'node:fs';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { KeyObject } from 'node:crypto';
import { ConfigError, loadConfig } from '../config';
import { isHashflexError } from '../errors';
import { toCsv, toJson, selectRange } from './export';
import { loadOrCreateKey, parsePublicKey, publicKeyText, readKey, KEY_FILE } from './keys';
import { LEDGER_FILE } from './store';
import { verifyLedgerFile, type LedgerTotals, type VerifyResult } from './verify';

/**
 * `hashflex ledger …`: show the board's public key, verify a ledger file, export a range for a
 * report. Exit codes as the rest of the command: 0 ok, 1 broken ledger or runtime failure,
 * 2 bad usage or bad config.
 */
export const LEDGER_USAGE = `usage:
  hashflex ledger key -c CONFIG [--pem] [--create]
        print the board's ledger public key (base64 SPKI DER, or PEM with --pem);
        --create makes the key if the agent has not started yet
  hashflex ledger verify FILE --key PUBKEY [--json]
        check every hash, signature and link; print energy totals; exit 1 at the first broken record
  hashflex ledger export [--from ISO] [--to ISO] (-c CONFIG | --file FILE [--key PUBKEY]) [--out PREFIX]
        verify, then write PREFIX.csv and PREFIX.json for intervals starting in [from, to)
PUBKEY is base64 SPKI DER (as printed by "ledger key"), a PEM block, or a file holding either.
`;

export interface CommandIo {
  out(s: string): void;
  err(s: string): void;
}

const processIo: CommandIo = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };

class Usage extends Error {}

function parse<O extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: O, positionals: number) {
  let r;
  try {
    r = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new Usage((e as Error).message);
  }
  if (r.positionals.length > positionals) throw new Usage(`unexpected argument "${r.positionals[positionals]}"`);
  return r;
}

export async function ledgerCommand(argv: string[], io: CommandIo = processIo): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    switch (sub) {
      case 'key': return keyCommand(rest, io);
      case 'verify': return verifyCommand(rest, io);
      case 'export': return exportCommand(rest, io);
      case '-h': case '--help': case 'help':
        io.out(LEDGER_USAGE);
        return 0;
      default:
        throw new Usage(sub === undefined ? 'expected key, verify or export' : `unknown ledger command "${sub}"`);
    }
  } catch (e) {
    if (e instanceof Usage) {
      io.err(`hashflex ledger: ${e.message}\n${LEDGER_USAGE}`);
      return 2;
    }
    if (e instanceof ConfigError) {
      io.err(`${e.problems.join('\n')}\n`);
      return 2;
    }
    io.err(`hashflex ledger: ${isHashflexError(e) || (e as NodeJS.ErrnoException).code ? (e as Error).message : (e as Error).stack ?? e}\n`);
    return 1;
  }
}

function keyCommand(argv: string[], io: CommandIo): number {
  const { values } = parse(argv, { config: { type: 'string', short: 'c' }, pem: { type: 'boolean' }, create: { type: 'boolean' } }, 0);
  if (!values.config) throw new Usage('ledger key needs -c CONFIG');
  const dir = loadConfig(values.config).storage.dir;
  const key = values.create ? loadOrCreateKey(dir) : readKey(dir);
  if (!key) {
    io.err(`hashflex ledger: no ${KEY_FILE} in ${dir} yet (the agent makes it at first start; --create makes it now)\n`);
    return 1;
  }
  io.out(values.pem ? publicKeyText(key.publicKey, 'pem') : `${publicKeyText(key.publicKey)}\n`);
  return 0;
}

function keyArg(text: string): KeyObject {
  try {
    return parsePublicKey(text);
  } catch (e) {
    throw new Usage(`--key: ${(e as Error).message}`);
  }
}

const f3 = (x: number) => x.toFixed(3);

export function formatSummary(file: string, r: VerifyResult): string {
  const t: LedgerTotals = r.totals;
  const pct = (a: number, b: number) => (b > 0 ? `${((100 * a) / b).toFixed(2)} %` : '-');
  const s = t.sources;
  const out = [
    `${file}: ${r.ok ? 'intact' : 'BROKEN'}, ${t.records} record${t.records === 1 ? '' : 's'}` +
      (t.records ? ` (seq ${t.first_seq}..${t.last_seq})` : '') + (r.signatures ? `, signatures checked (key ${r.key})` : ', signatures NOT checked'),
    `period              ${t.from ?? '-'} .. ${t.to ?? '-'}`,
    `intervals           ${t.records} (${s.counters} counters, ${s.integrated} integrated, ${s.mixed} mixed, ${s.none} without meter data)`,
    `gaps                ${t.gaps} declared, ${t.gap_s} s (grid import ${f3(t.gap_import_kwh)} kWh, export ${f3(t.gap_export_kwh)} kWh while not recording)`,
    `energy from surplus ${f3(t.miner_surplus_kwh)} kWh`,
    `energy from grid    ${f3(t.miner_grid_kwh)} kWh (${pct(t.miner_grid_kwh, t.miner_kwh)} of miner energy ${f3(t.miner_kwh)} kWh)`,
    `surplus available   ${f3(t.surplus_kwh)} kWh (${pct(t.miner_surplus_kwh, t.surplus_kwh)} used by the miners)`,
    `grid                import ${f3(t.import_kwh)} kWh, export ${f3(t.export_kwh)} kWh`,
    `events              ${t.trips} trips, ${t.commands} commands, ${t.releases} releases, ${t.counter_resets} counter resets, ${t.meter_changes} meter changes, ${t.torn_tails} torn tails repaired`,
  ];
  out.push(`clock steps         ${t.clock_steps} (${t.clock_step_records} record${t.clock_step_records === 1 ? '' : 's'} declare one, net ${t.clock_step_s > 0 ? '+' : ''}${t.clock_step_s} s of wall time against real time)`);
  if (t.unmeasured_s > 0) out.push(`unmeasured          ${t.unmeasured_s} s without meter power`);
  if (r.torn) out.push(`warning: line ${r.torn.line} is torn (${r.torn.bytes} bytes without a newline: a write cut off by a crash); ignored`);
  if (r.broken) out.push(`broken at line ${r.broken.line}${r.broken.seq !== undefined ? ` (record seq ${r.broken.seq})` : ''}: ${r.broken.reason}`);
  return `${out.join('\n')}\n`;
}

function verifyCommand(argv: string[], io: CommandIo): number {
  const { values, positionals } = parse(argv, { key: { type: 'string' }, json: { type: 'boolean' } }, 1);
  const file = positionals[0];
  if (!file) throw new Usage('ledger verify needs a FILE');
  if (!values.key) throw new Usage('ledger verify needs --key PUBKEY');
  const key = keyArg(values.key);
  const r = verifyLedgerFile(file, key);
  if (values.json) {
    const { records: _records, ...rest } = r;
    io.out(`${JSON.stringify({ file, ...rest })}\n`);
  } else io.out(formatSummary(file, r));
  if (!r.ok) io.err(`hashflex ledger: ${file}: broken at line ${r.broken!.line}${r.broken!.seq !== undefined ? ` (record seq ${r.broken!.seq})` : ''}: ${r.broken!.reason}\n`);
  return r.ok ? 0 : 1;
}

function isoArg(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const t = Date.parse(v);
  if (!Number.isFinite(t)) throw new Usage(`--${name}: not an ISO 8601 time: "${v}"`);
  return t;
}

function exportCommand(argv: string[], io: CommandIo): number {
  const { values } = parse(argv, {
    from: { type: 'string' }, to: { type: 'string' }, config: { type: 'string', short: 'c' },
    file: { type: 'string' }, key: { type: 'string' }, out: { type: 'string' },
  }, 0);
  const from = isoArg('from', values.from);
  const to = isoArg('to', values.to);
  if (from !== undefined && to !== undefined && to <= from) throw new Usage('--to must be after --from');
  if (!!values.config === !!values.file) throw new Usage('ledger export needs one of -c CONFIG or --file FILE');
  let file: string;
  let key: KeyObject | undefined;
  if (values.config) {
    const dir = loadConfig(values.config).storage.dir;
    file = path.join(dir, LEDGER_FILE);
    key = values.key ? keyArg(values.key) : readKey(dir)?.publicKey;
  } else {
    file = values.file!;
    key = values.key ? keyArg(values.key) : undefined;
  }
  const r = verifyLedgerFile(file, key);
  if (!r.ok) {
    io.err(`hashflex ledger: ${file}: broken at line ${r.broken!.line}${r.broken!.seq !== undefined ? ` (record seq ${r.broken!.seq})` : ''}: ${r.broken!.reason}; nothing exported\n`);
    return 1;
  }
  const records = selectRange(r.records, from, to);
  const prefix = values.out ?? 'ledger-export';
  fs.mkdirSync(path.dirname(path.resolve(prefix)), { recursive: true });
  fs.writeFileSync(`${prefix}.csv`, toCsv(records));
  fs.writeFileSync(`${prefix}.json`, toJson(records, {
    from: from === undefined ? null : new Date(from).toISOString(),
    to: to === undefined ? null : new Date(to).toISOString(),
    public_key: key ? publicKeyText(key) : null,
    verified: key ? 'signatures' : 'chain',
  }));
  if (r.torn) io.err(`warning: ${file} line ${r.torn.line} is torn (a write cut off by a crash); ignored\n`);
  if (!key) io.err('warning: no public key: hashes and links checked, signatures not\n');
  io.out(`${prefix}.csv, ${prefix}.json: ${records.length} interval${records.length === 1 ? '' : 's'}\n`);
  return 0;
}
