import readline from 'node:readline';
import { startSimController, type AckFrame, type Frame } from './controller';

/**
 * The simulated site controller as a program, for a test engineer beside
 * `hashflex sim --hardware-only` or a real board:
 *   npx tsx sim/controller-main.ts [--port N] [--token T]
 * prints every frame as one JSON line and reads commands from stdin, one a line:
 *   curtail [AGENT|*] · release [AGENT|*] · set_power KW TTL_S [AGENT|*]
 *
 * Its own file, never imported: a module that also runs as a program (`require.main === module`)
 * would run inside the board bundle too, where that test is true for every module it holds.
 */
async function main(argv: string[]): Promise<void> {
  const arg = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const ctl = await startSimController({ port: Number(arg('--port') ?? 0), token: arg('--token') ?? process.env.HASHFLEX_UPLINK_TOKEN });
  const out = (o: object): void => { process.stdout.write(`${JSON.stringify(o)}\n`); };
  out({ listening: ctl.url });
  for (const t of ['hello', 'telemetry', 'event', 'ack']) ctl.on(t, (f: Frame, agent: string) => out({ agent, ...f }));
  ctl.on('disconnect', (agent: string) => out({ agent, disconnected: true }));
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const [action, ...rest] = line.trim().split(/\s+/);
    if (!action) return;
    const extra = action === 'set_power' ? { kw: Number(rest.shift()), ttl_s: Number(rest.shift()) } : undefined;
    const target = rest[0] ?? '*';
    ctl.command(target, action, extra).then((a: AckFrame | AckFrame[]) => out({ result: a }), (e: Error) => out({ error: e.message }));
  });
  const stop = (): void => { void ctl.close().then(() => process.exit(0)); };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  rl.once('close', stop);
}

void main(process.argv.slice(2));
