import { realClock, type Clock } from './clock';
import type { Config } from './config';
import { logger } from './log';
import { buildHardware, Site, type Hardware, type TripRecord } from './site';
import type { ControlEvent } from './control/types';
import { Journal } from './uplink/journal';
import { Uplink } from './uplink/client';
import type { Command } from './uplink/protocol';
import { VERSION } from './version';

const log = logger('agent');

export interface RunningAgent {
  site: Site;
  uplink?: Uplink;
  stop(): Promise<void>;
}

/**
 * Start the agent from a validated config: the site (drivers + control), the uplink with its
 * journal, and the local server. Hardware can be handed in (tests); otherwise built from config.
 */
export async function startAgent(config: Config, opts: { clock?: Clock; hardware?: Hardware } = {}): Promise<RunningAgent> {
  const clock = opts.clock ?? realClock;
  const site = new Site(config, opts.hardware ?? buildHardware(config, clock), clock);
  let uplink: Uplink | undefined;
  let journal: Journal | undefined;

  if (config.uplink) {
    journal = Journal.open({ dir: config.storage.dir });
    uplink = new Uplink({
      url: config.uplink.url,
      token: config.uplink.token,
      caFile: config.uplink.ca_file,
      agentId: config.agent.id,
      version: VERSION,
      bootId: site.bootId,
      journal,
    }, clock);
    const up = uplink;
    up.on('command', (cmd: Command) => void obey(site, up, cmd));
    site.on('telemetry', (body) => up.telemetry(body));
    site.on('trip', (t: TripRecord) => up.event({ kind: 'trip', source: t.source, latency_ms: Math.round(t.latencyMs * 100) / 100 }));
    site.on('control', (e: ControlEvent) => up.event({ ...e }));
  }

  await site.start();
  uplink?.start();
  log.info({ agent: config.agent.id, boards: config.boards.length, uplink: config.uplink?.url }, 'agent started');

  return {
    site,
    uplink,
    async stop() {
      await site.stop();
      await uplink?.stop();
      journal?.close();
    },
  };
}

/** Carry out a controller command, then acknowledge it (a curtail only once every board is off). */
async function obey(site: Site, uplink: Uplink, cmd: Command): Promise<void> {
  switch (cmd.action) {
    case 'curtail':
      await site.curtail();
      uplink.ack(cmd.id, true);
      return;
    case 'release': {
      const r = site.controller.release();
      uplink.ack(cmd.id, r.ok, r.ok ? undefined : r.error);
      return;
    }
    case 'set_power': {
      const r = site.controller.setPower(cmd.kw, cmd.ttl_s);
      uplink.ack(cmd.id, r.ok, r.ok ? undefined : r.error);
      return;
    }
  }
}
