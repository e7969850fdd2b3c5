import { realClock, type Clock, type Timer } from '../../clock';
import { logger } from '../../log';
import type { Site } from '../../site';
import { scadaMetrics } from './metrics';
import { ScadaServer, type ScadaLimits, type ScadaStats } from './server';
import { sitePort } from './site-port';
import { SCADA_DEFAULT_ALLOW } from './allow';

export { scadaMetrics } from './metrics';
export { ScadaServer, SCADA_LIMITS, type ScadaLimits, type ScadaStats } from './server';

const log = logger('scada');

/** `scada:` of the config (DESIGN.md §8) */
export interface ScadaConfig {
  listen: string;
  unit: number;
  /** default SCADA_DEFAULT_ALLOW (loopback) */
  allow?: string[];
  write: boolean;
  cap_ttl_s: number;
}

export interface RunningScada {
  readonly stats: ScadaStats;
  /** the bound port (undefined while the listen is being retried) */
  readonly port: number | undefined;
  metrics(): string;
  close(): Promise<void>;
}

/**
 * Serve the site to the aggregator's RTU. Started after the site, stopped before it. A listen
 * that fails (port taken, address not on this board) is logged and retried with backoff: the
 * site keeps its local protections and its uplink meanwhile, as it does while the uplink is
 * down (`hashflex doctor` reports the cause at commissioning).
 */
export async function startScada(cfg: ScadaConfig, site: Site, clock: Clock = realClock, limits?: Partial<ScadaLimits>): Promise<RunningScada> {
  const port = sitePort(site, clock);
  const server = new ScadaServer({ listen: cfg.listen, unit: cfg.unit, allow: cfg.allow ?? SCADA_DEFAULT_ALLOW, write: cfg.write, capTtlS: cfg.cap_ttl_s, limits }, port, clock);
  let retry: Timer | undefined;
  let delay = 1000;
  let closed = false;
  const attempt = async (): Promise<void> => {
    try {
      const a = await server.listen();
      log.info({ listen: `${a.address}:${a.port}`, unit: cfg.unit, write: cfg.write, allow: cfg.allow ?? SCADA_DEFAULT_ALLOW }, 'scada server listening');
    } catch (e) {
      if (closed) return;
      log.error({ listen: cfg.listen, err: (e as Error).message, retry_ms: delay }, 'scada server cannot listen; retrying');
      retry = clock.setTimeout(() => void attempt(), delay);
      delay = Math.min(delay * 2, 30_000);
    }
  };
  await attempt();
  return {
    get stats() { return server.stats; },
    get port() { return server.address?.port; },
    metrics: () => scadaMetrics(server.stats),
    async close() {
      closed = true;
      retry?.cancel();
      await server.close();
      port.dispose();
    },
  };
}
