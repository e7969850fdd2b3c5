import type { Clock } from './clock';
import type { Config } from './config';
import type { Hashboard, IoBoard, Meter, NetworkMiner } from './hardware';
import { createHashboard, hashboardOptionsFrom } from '../drivers/hashboard';
import { createIoBoard } from '../drivers/io';
import { createMeter } from '../drivers/meter';
import { createMiner } from '../drivers/miner';

/** The drivers a site runs on; built from config by `buildHardware`, or handed in by tests. */
export interface Hardware {
  meter: Meter;
  boards: Hashboard[];
  io?: IoBoard;
  /** stock and aftermarket miners on the LAN (none by default) */
  miners?: NetworkMiner[];
}

/** The real drivers for a config: the one place (with cli.ts) that picks them. */
export function buildHardware(config: Config, clock: Clock): Hardware {
  const meter = createMeter({ id: 'grid', ...config.meter }, clock);
  const io = config.io
    ? createIoBoard({
        serial: 'tcp' in config.io ? { tcp: config.io.tcp } : { path: config.io.path, baud: config.io.baud },
        sample_ms: config.io.sample_ms,
        watchdog_ms: config.io.watchdog_ms,
        enable: Object.fromEntries(config.boards.filter((b) => b.enable_pin !== undefined).map((b) => [b.id, b.enable_pin!])),
        fans: config.fans,
        relay: config.grid.relay,
        thermistors: config.thermistors,
      }, clock)
    : undefined;
  const boards = config.boards.map((b) => {
    // a thermistor on the board's heat sink is its temperature in telemetry and for throttling
    const sensor = config.thermistors.find((t) => t.board === b.id)?.id;
    const temperature = io && sensor ? () => io.temperatures()[sensor] ?? Number.NaN : undefined;
    return createHashboard(hashboardOptionsFrom(b, temperature ? { temperature } : {}), clock);
  });
  const miners = config.miners.map((m) => createMiner({
    id: m.id, host: m.host, driver: m.driver, ports: m.ports, username: m.username, password: m.password,
    ratedKw: m.rated_kw, pollMs: m.poll_ms, timeoutMs: m.timeout_ms,
  }, clock));
  return { meter, boards, io, miners };
}
