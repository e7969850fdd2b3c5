// as a child process: serve the parent over IPC; a lost parent ends the host
import { MinerHost, type MinerHostIn, type MinerHostOut } from './miner-host';

/**
 * A miner host process of `hashflex bench miners`: miners.ts forks this file (with an IPC
 * channel) and drives the MinerHost in it over messages (see miner-host.ts).
 *
 * Its own file, never imported: a module that also runs as a program (`require.main === module`)
 * would run inside the board bundle too, where that test is true for every module it holds.
 */
if (!process.send) {
  process.stderr.write('miner-host-main: run by the miners bench (fork, with an IPC channel), not by hand\n');
  process.exit(2);
}
// the parent may be gone (it stops a host it no longer needs): nothing left to tell
const send = (m: MinerHostOut) => { if (process.connected) process.send?.(m, undefined, undefined, () => {}); };
const host = new MinerHost(send);
process.on('message', (m: MinerHostIn) => {
  host.handle(m).then(
    () => { if (m.type === 'close') process.disconnect(); },
    (e: Error) => send({ type: 'error', message: e.stack ?? String(e) }),
  );
});
process.on('disconnect', () => { void host.close().finally(() => process.exit(0)); });
