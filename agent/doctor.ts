import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { args, UsageError } from './cli-args';
import { ConfigError, loadConfig, type Config } from './config';
import type { CheckResult, DoctorOptions, DoctorReport } from './doctor/types';

export type { CheckResult, DoctorOptions, DoctorReport } from './doctor/types';

/**
 * Run the checks on a validated config (agent/doctor/run.ts). Loaded on first use, not with this
 * module: the drivers it brings in open the agent's logger, and the command must first say where
 * the logs go (logsAside).
 */
export function runDoctor(config: Config, options: DoctorOptions = {}): Promise<DoctorReport> {
  return (require('./doctor/run') as typeof import('./doctor/run')).runDoctor(config, options);
}

/**
 * `hashflex doctor -c FILE [--json] [--verbose] [--switch-miners] [--enable-mhz MHZ] [--settle-ms MS]`: commissioning checks for a technician
 * (README "Commissioning checks"). One PASS/FAIL/SKIP line per check with a hint on failure;
 * `--json` prints one JSON document for scripts instead. Exit 0 only if every check passes
 * (skipped checks are for parts the config does not have), 1 if any fails, 2 on bad usage or
 * bad config. The agent service must be stopped: doctor opens the same serial ports.
 * The drivers' own logs (pino JSON: a board switched off reads as a fault to its driver) go to a
 * file, named at the end, and not between the report's lines; `--verbose` puts them on stderr.
 * Network miners are read, never switched, unless `--switch-miners` asks for each to be stopped
 * and woken (agent/doctor/miners.ts); either way each is left as it was found.
 */
export async function doctorCommand(argv: string[]): Promise<number> {
  const { values } = args(argv, {
    config: { type: 'string', short: 'c' },
    json: { type: 'boolean' },
    verbose: { type: 'boolean' },
    'switch-miners': { type: 'boolean' },
    'enable-mhz': { type: 'string' },
    'settle-ms': { type: 'string' },
  });
  const file = values.config as string | undefined;
  if (!file) throw new UsageError('doctor needs -c FILE');
  const json = values.json === true;
  const enableMhz = values['enable-mhz'] === undefined ? undefined : Number(values['enable-mhz']);
  if (enableMhz !== undefined && !(enableMhz > 0)) throw new UsageError('--enable-mhz needs a frequency in MHz');
  // meters that average over longer than ~1 s need a longer settle before the enable check reads them
  const settleMs = values['settle-ms'] === undefined ? undefined : Number(values['settle-ms']);
  if (settleMs !== undefined && !(settleMs >= 0 && settleMs <= 60_000)) throw new UsageError('--settle-ms needs 0..60000');

  let config;
  try {
    config = loadConfig(file);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    const r: CheckResult = {
      check: 'config', status: 'fail', detail: `${file}: ${e.problems.length} problem(s)`, ms: 0,
      hint: 'fix each line below (`hashflex config check FILE` lists them too)', data: { problems: e.problems },
    };
    if (json) print({ ok: false, file, results: [r], passed: 0, failed: 1, skipped: 0, ms: 0 });
    else {
      process.stdout.write(line(r));
      for (const p of e.problems) process.stdout.write(`        ${p}\n`);
    }
    return 2;
  }

  const logFile = values.verbose === true ? undefined : logsAside();
  // Ctrl-C or a stop: finish the step in hand, switch everything off, report what was done
  const abort = new AbortController();
  const stop = () => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  if (!json) process.stdout.write(`hashflex doctor: ${file} (the agent service must be stopped)\n`);
  const timing = settleMs === undefined ? {} : { meterSettleMs: settleMs, meterWindowMs: Math.max(200, Math.round(settleMs * 0.75)) };
  const switchMiners = values['switch-miners'] === true;
  const opts: DoctorOptions = { ...timing, enableMhz, switchMiners, signal: abort.signal, onResult: json ? undefined : (r) => process.stdout.write(line(r)) };
  let report: DoctorReport;
  try {
    report = await runDoctor(config, opts);
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  if (json) print({ ...report, file, ...(logFile ? { log_file: logFile } : {}) });
  else {
    const verdict = report.ok ? 'commissioned: every check passed' : abort.signal.aborted ? 'interrupted' : 'NOT commissioned';
    process.stdout.write(`${report.passed} passed, ${report.failed} failed, ${report.skipped} skipped in ${(report.ms / 1000).toFixed(1)} s: ${verdict}. All boards are off.${minersLeft(config.miners.length, switchMiners, report)}\n`);
    if (logFile) process.stdout.write(`agent logs: ${logFile}\n`);
  }
  return report.ok ? 0 : 1;
}

/**
 * Send the agent's logs to a file of this run (agent/log.ts reads HASHFLEX_LOG_FILE when the
 * logger is first loaded, which is after this: runDoctor loads the drivers lazily). A file the
 * caller named with HASHFLEX_LOG_FILE is kept. Returns the file, or undefined when the logs stay
 * on stderr (the temp dir is not writable: better mixed than lost).
 */
function logsAside(): string | undefined {
  if (process.env.HASHFLEX_LOG_FILE) return process.env.HASHFLEX_LOG_FILE;
  const file = path.join(os.tmpdir(), `hashflex-doctor-${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}.log`);
  try {
    fs.closeSync(fs.openSync(file, 'a', 0o640));
  } catch {
    return undefined;
  }
  process.env.HASHFLEX_LOG_FILE = file;
  return file;
}

/** what the closing line says about the network miners */
function minersLeft(miners: number, switched: boolean, report: DoctorReport): string {
  if (!miners) return '';
  if (!switched) return ' Miners were read, not switched.';
  const notBack = report.results.filter((r) => r.check === 'switch' && r.data?.left_as_found === false).map((r) => r.item);
  return notBack.length ? ` NOT left as found: ${notBack.join(', ')} (see their switch lines).` : ' Miners are as they were found.';
}

/** `PASS  board hb0   detail` and, on failure, an indented hint */
export function line(r: CheckResult): string {
  const name = `${r.check}${r.item ? ` ${r.item}` : ''}`.padEnd(14);
  const head = `${r.status.toUpperCase().padEnd(5)} ${name} ${r.detail}\n`;
  return r.hint && r.status !== 'pass' ? `${head}      ${r.status === 'fail' ? 'hint' : 'why'}: ${r.hint}\n` : head;
}

function print(doc: unknown): void {
  process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
}
