import type { Clock } from '../../clock';
import { logger } from '../../log';
import type { Site } from '../../site';
import type { OpenAdrTelemetry } from '../../telemetry';
import { NO_DIRECTIVE, type OpenAdrDirective, type SiteReading } from './directive';
import type { OpenAdrSettings } from './settings';
import type { Ven } from './ven';

const log = logger('openadr');

/** the VEN running beside a site, as the composition root (agent/main.ts) holds it */
export interface RunningOpenAdr {
  readonly ven: Ven;
  /** the directive obeyed now */
  readonly directive: OpenAdrDirective;
  metrics(): string;
  close(): Promise<void>;
}

/**
 * The VEN's directive carried out by a running site: ALERT_GRID_EMERGENCY (or a SIMPLE level
 * whose share is 0) as the control core's `openadr` curtailment, the caps, dispatch setpoint and
 * import limit as its ProgramLimits. A new directive replaces the last whole: an event that ends
 * or is deleted at the VTN ends its effect because the next directive no longer carries it.
 */
export async function startOpenAdr(settings: OpenAdrSettings, site: Site, clock: Clock, dataDir: string): Promise<RunningOpenAdr> {
  const { Ven } = require('./ven') as typeof import('./ven');
  const c = site.controller;
  let directive = NO_DIRECTIVE;

  const obey = (d: OpenAdrDirective) => {
    directive = d;
    // the limits first: a curtailment that ends ramps back up under the terms now in force
    c.setProgramLimits({ maxKw: d.minersMaxKw, setpointKw: d.setpointKw, importLimitKw: d.importLimitKw });
    const curtailed = c.tripSources.includes('openadr');
    if (d.curtail && !curtailed) {
      void site.curtail('openadr').then((notOff) => {
        if (notOff.length) log.warn({ notOff }, 'openadr curtailment: not every load confirmed off');
      });
    } else if (!d.curtail && curtailed) {
      c.endCurtail('openadr');
    }
    log.info({ curtail: d.curtail, maxKw: d.minersMaxKw, setpointKw: d.setpointKw, importLimitKw: d.importLimitKw, events: d.active.length }, 'openadr directive');
  };

  const read = (): SiteReading => ({
    at: clock.now(),
    gridKw: site.gridKw() ?? Number.NaN,
    minersKw: site.minersKw(),
    targetKw: c.target,
    state: c.state,
    mode: c.mode,
  });

  const ven = new Ven(settings, { clock, log, dataDir, read, maxKw: site.config.control.max_kw, onDirective: obey });
  site.programStatus = (): OpenAdrTelemetry => {
    const st = ven.status();
    return {
      connected: st.connected,
      ...(st.ven_id ? { ven_id: st.ven_id } : {}),
      ...(st.fault ? { fault: st.fault } : {}),
      notifications: st.notifications,
      active: directive.active,
    };
  };
  await ven.start();

  return {
    ven,
    get directive() { return directive; },
    metrics: () => openAdrMetrics(ven, directive),
    async close() {
      site.programStatus = undefined;
      await ven.stop();
    },
  };
}

/** Prometheus text for the VEN, appended to /metrics (the same hand-written exposition as the SCADA server's) */
function openAdrMetrics(ven: Ven, d: OpenAdrDirective): string {
  const st = ven.status();
  const out: string[] = [];
  const gauge = (name: string, help: string, samples: [Record<string, string> | undefined, number][]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
    for (const [labels, v] of samples) {
      const l = labels ? `{${Object.entries(labels).map(([k, x]) => `${k}="${escapeLabel(x)}"`).join(',')}}` : '';
      out.push(`${name}${l} ${v}`);
    }
  };
  gauge('hashflex_openadr_connected', '1 while the VTN answers the VEN', [[undefined, st.connected ? 1 : 0]]);
  gauge('hashflex_openadr_curtail', '1 while an OpenADR event curtails the site (trip source openadr)', [[undefined, d.curtail ? 1 : 0]]);
  gauge('hashflex_openadr_events_active', 'OpenADR events in force, by payload type',
    [...countBy(d.active.map((a) => a.type))].map(([type, n]) => [{ type }, n]));
  const limits: [string, number | undefined][] = [['miners_max', d.minersMaxKw], ['setpoint', d.setpointKw], ['import_limit', d.importLimitKw]];
  gauge('hashflex_openadr_limit_kw', 'What the events in force ask of the miners (kW): a cap, a dispatch setpoint, a grid import limit',
    limits.filter(([, v]) => v !== undefined).map(([what, v]) => [{ what }, v!]));
  return `${out.join('\n')}\n`;
}

function countBy(xs: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const x of xs) m.set(x, (m.get(x) ?? 0) + 1);
  return m;
}

const escapeLabel = (s: string) => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
