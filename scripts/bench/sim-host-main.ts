import { SimHost, type HostIn, type HostOut } from './sim-host';

/**
 * A sim host process of the fleet bench: fleet.ts forks this file (with an IPC channel) and
 * drives the SimHost in it over messages (see sim-host.ts).
 *
 * Its own file, never imported: a module that also runs as a program (`require.main === module`)
 * would run inside the board bundle too, where that test is true for every module it holds.
 */
if (!process.send) {
  process.stderr.write('sim-host-main: run by the fleet bench (fork, with an IPC channel), not by hand\n');
  process.exit(2);
}
const send = (m: HostOut) => process.send?.(m);
const host = new SimHost(send);
process.on('message', (m: HostIn) => {
  host.handle(m).then(
    () => { if (m.type === 'close') process.disconnect(); },
    (e: Error) => send({ type: 'error', message: e.stack ?? String(e) }),
  );
});
process.on('disconnect', () => { void host.close().finally(() => process.exit(0)); });
