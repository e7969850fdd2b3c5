import { parseArgs, type ParseArgsConfig } from 'node:util';

/**
 * What every `hashflex` subcommand shares for its arguments: the usage error (exit 2) and
 * parseArgs with the project's conventions. It lives apart from cli.ts so that the subcommands
 * (doctor.ts, sim-command.ts, scripts/bench.ts) need not import the dispatcher that loads them.
 */
export class UsageError extends Error {}

/** a usage error of ours, or one of parseArgs' own (unknown option, missing value): exit 2 */
export function isUsageError(e: unknown): e is Error {
  return e instanceof UsageError || String((e as NodeJS.ErrnoException | undefined)?.code).startsWith('ERR_PARSE_ARGS');
}

/** parseArgs with the project's conventions: unknown options are usage errors */
export function args<O extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: O, positionals = 0) {
  const config: { args: string[]; options: O; allowPositionals: true; strict: true } = { args: argv, options, allowPositionals: true, strict: true };
  const r = parseArgs(config);
  if (r.positionals.length > positionals) throw new UsageError(`unexpected argument "${r.positionals[positionals]}"`);
  return r;
}
