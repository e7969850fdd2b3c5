import { args, isUsageError, UsageError } from './cli-args';
import { ConfigError, configWarnings, loadConfig } from './config';
import { isHashflexError } from './errors';

/**
 * The `hashflex` command (DESIGN.md §2, a contract). The only place that picks real or
 * simulated parts. Exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad config.
 */
const USAGE = `usage:
  hashflex run -c FILE                      run the agent with a config file (YAML or JSON)
  hashflex sim [--scenario NAME|FILE] [--boards N] [--speed X|max] [--duration S] [--report FILE]
               [--seed N] [--poll-ms N]     simulated site + the real agent, end to end
  hashflex sim --hardware-only --out DIR [--scenario NAME|FILE]
                                            only the simulated hardware (default scenario: quiet); writes DIR/sim.json and DIR/agent.yaml
  hashflex doctor -c FILE [--json] [--verbose] [--switch-miners]
                                            commissioning checks; exit 0 only if all pass; logs to a file (--verbose: stderr);
                                            --switch-miners also stops and wakes each network miner (left as found)
  hashflex config check FILE                validate a config; one line per problem
  hashflex discover CIDR... [--json] [--out FILE] [--timeout-ms N] [--concurrency N] [--deadline-s N]
                                            find the miners in private/loopback/link-local ranges (at most 4096 addresses)
  hashflex bench [trip|footprint|surplus|fleet] [--json]
  hashflex ledger key -c FILE               the board's ledger public key
  hashflex ledger verify FILE --key PUBKEY  check a surplus ledger's chain and signatures
  hashflex ledger export --from ISO --to ISO [-c FILE | --file FILE] [--out PREFIX]
  hashflex --version                        print the version
`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'run':
        return await run(rest);
      case 'sim':
        return await (require('./sim-command') as typeof import('./sim-command')).simCommand(rest);
      case 'config':
        return configCommand(rest);
      case 'doctor':
        return await (require('./doctor') as typeof import('./doctor')).doctorCommand(rest);
      case 'discover':
        return await (require('./discover') as typeof import('./discover')).discoverCommand(rest);
      case 'ledger':
        return await (require('./ledger/command') as typeof import('./ledger/command')).ledgerCommand(rest);
      case 'bench':
        return await (require('../scripts/bench') as typeof import('../scripts/bench')).benchCommand(rest);
      case '--version':
        process.stdout.write(`hashflex ${(require('./version') as typeof import('./version')).VERSION}\n`);
        return 0;
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        process.stdout.write(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (e) {
    if (isUsageError(e)) {
      process.stderr.write(`hashflex: ${(e as Error).message}\n${USAGE}`);
      return 2;
    }
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.problems.join('\n')}\n`);
      return 2;
    }
    process.stderr.write(`hashflex: ${isHashflexError(e) ? e.message : (e as Error).stack ?? e}\n`);
    return 1;
  }
}

function configCommand(argv: string[]): number {
  const [sub, ...rest] = argv;
  if (sub !== 'check') throw new UsageError('expected "config check FILE"');
  const { positionals } = args(rest, {}, 1);
  const file = positionals[0];
  if (!file) throw new UsageError('config check needs a FILE');
  try {
    const c = loadConfig(file);
    // warnings do not make a valid config fail: stderr, exit 0
    for (const w of configWarnings(c)) process.stderr.write(`warning: ${w}\n`);
    process.stdout.write(`${file}: ok (agent ${c.agent.id}, ${c.boards.length} board${c.boards.length === 1 ? '' : 's'}, mode ${c.control.mode})\n`);
    return 0;
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stdout.write(`${e.problems.join('\n')}\n`);
      return 2;
    }
    throw e;
  }
}

async function run(argv: string[]): Promise<number> {
  const { values } = args(argv, { config: { type: 'string', short: 'c' } });
  if (!values.config) throw new UsageError('run needs -c FILE');
  const config = loadConfig(values.config as string); // before any port is opened
  const { startAgent } = require('./main') as typeof import('./main');
  const log = (require('./log') as typeof import('./log')).logger('agent');
  // caught from before the start, so a stop during start-up (systemctl stop) is logged and
  // waits for the start to finish instead of killing the process half-way; a second signal
  // while stopping gets the default action (the process ends at once)
  let started = false;
  let onSignal: (signal: NodeJS.Signals) => void = () => undefined;
  const signalled = new Promise<NodeJS.Signals>((resolve) => {
    onSignal = (signal) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      log.info({ signal }, started ? `stopping on ${signal}` : `stopping on ${signal} once start-up has finished`);
      resolve(signal);
    };
  });
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let agent: Awaited<ReturnType<typeof startAgent>>;
  try {
    agent = await startAgent(config);
  } catch (e) {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    throw e;
  }
  started = true;
  const signal = await signalled;
  await agent.stop();
  log.info({ signal }, 'stopped');
  return 0;
}

// Subcommands load lazily with require(), not import(): `bin/hashflex.js` runs the sources
// through tsx's CommonJS hook, and import() would bypass it.
