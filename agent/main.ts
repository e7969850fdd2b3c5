import { realClock, type Clock } from './clock';
import { configWarnings, type Config } from './config';
import { logger } from './log';
import { buildHardware, Site, type Hardware, type TripRecord } from './site';
import type { ControlEvent } from './control/types';
import { Journal } from './uplink/journal';
import type { Uplink } from './uplink/client';
import { createUplink, mqttOptions } from './uplink';
import type { Command } from './uplink/protocol';
import { VERSION } from './version';
import { createLocalServer, type LocalServer } from './server/local';
import { uplinkMetrics } from './server/metrics';
import { siteMetrics } from './server/site-metrics';
import { meterIdentity } from './ledger/config';
import { startWatchdog } from './watchdog';
import { Ledger } from './ledger/ledger';
import { ledgerEventBody, wireLedger } from './ledger/wire';
import type { RunningScada } from './grid/scada';
import type { RunningOpenAdr } from './grid/openadr/site-port';
import { toOpenAdrSettings } from './grid/openadr/settings';

const log = logger('agent');

export interface RunningAgent {
  site: Site;
  uplink?: Uplink;
  local?: LocalServer;
  scada?: RunningScada;
  openadr?: RunningOpenAdr;
  stop(): Promise<void>;
}

/**
 * Start the agent from a validated config: the site (drivers + control), the uplink with its
 * journal, and the local server. Hardware can be handed in (tests); otherwise built from config.
 */
export async function startAgent(config: Config, opts: { clock?: Clock; hardware?: Hardware } = {}): Promise<RunningAgent> {
  const clock = opts.clock ?? realClock;
  // file modes of secrets, keys the url's transport ignores: said once, never with the secret itself
  for (const w of configWarnings(config)) log.warn(w);
  const site = new Site(config, opts.hardware ?? buildHardware(config, clock), clock);
  let uplink: Uplink | undefined;
  let journal: Journal | undefined;

  if (config.uplink) {
    const st = config.storage;
    const u = config.uplink;
    journal = Journal.open({ dir: st.dir, maxBytes: st.journal_max_mb * 2 ** 20, sync: st.journal_sync, checkpoint: st.journal_checkpoint });
    try {
      // the url's scheme picks the transport: WebSocket, or MQTT 5 with uplink.site and friends
      uplink = createUplink({
        url: u.url,
        mqtt: mqttOptions(u),
        token: u.token,
        caFile: u.ca_file,
        agentId: config.agent.id,
        version: VERSION,
        bootId: site.bootId,
        journal,
        backoff: { minMs: u.backoff_min_ms, maxMs: u.backoff_max_ms },
      }, clock);
    } catch (e) {
      // before site.start(): no port is open yet, only the journal
      journal.close();
      throw e;
    }
    const up = uplink;
    up.on('command', (cmd: Command) => void obey(site, up, cmd));
    site.on('telemetry', (body) => up.telemetry(body));
    // queued, not journaled here: these listeners run on the control path (a meter sample, a
    // trip), and the append (an fsync with journal_sync: full) waits for the next turn
    site.on('trip', (t: TripRecord) => up.queueEvent({ kind: 'trip', source: t.source, latency_ms: Math.round(t.latencyMs * 100) / 100 }));
    site.on('control', (e: ControlEvent) => up.queueEvent({ ...e }));
  }

  let ledger: Ledger | undefined;
  let detachLedger: (() => void) | undefined;
  if (config.ledger.enabled) {
    const l = new Ledger({
      dir: config.storage.dir, intervalMs: config.ledger.interval_s * 1000, holdMs: config.ledger.hold_ms,
      meterId: config.ledger.meter_id ?? meterIdentity(config.meter), agentId: config.agent.id,
    }, clock);
    try {
      await l.start();
      ledger = l;
      detachLedger = wireLedger(l, { meter: site.hw.meter, minersKw: () => site.minersKw(), site, uplink, clock });
      if (uplink) { const up = uplink; l.on('record', (r) => up.event(ledgerEventBody(r))); }
      l.on('fault', (e: Error) => log.error({ err: e.message }, 'ledger write failed'));
    } catch (e) {
      // the ledger is proof, not control: the site runs without it, loudly
      log.error({ err: (e as Error).message }, 'ledger not started');
    }
  }

  await site.start();
  uplink?.start();
  // the aggregator's RTU (DESIGN §8): after the site, so its first read sees a running site;
  // loaded only when configured, as the footprint work does with mqtt and johnny-five
  const scada = config.scada
    ? await (require('./grid/scada') as typeof import('./grid/scada')).startScada(config.scada, site, clock)
    : undefined;
  // the OpenADR VEN (DESIGN §9): after the site too, so the events it restores from disk act on a running site
  const openadr = config.openadr
    ? await (require('./grid/openadr/site-port') as typeof import('./grid/openadr/site-port')).startOpenAdr(toOpenAdrSettings(config.openadr), site, clock, config.storage.dir)
    : undefined;
  const local = config.local
    ? await createLocalServer({
        listen: config.local.listen,
        token: config.local.token,
        status: () => ({ agent: config.agent.id, version: VERSION, boot: site.bootId, ...site.telemetry() }),
        metrics: () => siteMetrics(site) + (uplink && journal ? uplinkMetrics(uplink, journal) : '') + (scada ? scada.metrics() : '') + (openadr ? openadr.metrics() : ''),
        telemetry: uplink ?? site,
        clock,
        minerDrivers: () => Object.fromEntries((site.hw.miners ?? []).map((m) => [m.id, m.driver])),
      })
    : undefined;
  log.info({ agent: config.agent.id, boards: config.boards.length, uplink: config.uplink?.url }, 'agent started');
  // under systemd: READY=1, then WATCHDOG=1 only while the event loop keeps time
  const watchdog = startWatchdog(log);

  return {
    site,
    uplink,
    local,
    scada,
    openadr,
    async stop() {
      const stopping = watchdog.stop();
      await local?.close();
      await scada?.close(); // before the site: no coil write may arrive at a site shutting down
      await openadr?.close(); // likewise no event
      await site.stop();
      detachLedger?.();
      await ledger?.stop(); // before the uplink, so its last record is journaled
      await uplink?.stop();
      journal?.close();
      await stopping;
    },
  };
}

/** Carry out a controller command, then acknowledge it (a curtail only once every board is off). */
async function obey(site: Site, uplink: Uplink, cmd: Command): Promise<void> {
  switch (cmd.action) {
    case 'curtail': {
      const notOff = await site.curtail();
      uplink.ack(cmd.id, notOff.length === 0, notOff.length ? `not confirmed off: ${notOff.join('; ')}` : undefined);
      return;
    }
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
