import { clock, esc } from './svg';
import type { Summary } from './summary';

type Row = NonNullable<Summary['openadr_events']>[number];

/** the payload's value as the utility wrote it, with its unit */
function valueText(x: Row): string {
  const v = esc(String(x.value));
  switch (x.type) {
    case 'SIMPLE': return `level ${v}`;
    case 'PRICE': return `${v} /kWh`;
    case 'IMPORT_CAPACITY_LIMIT':
    case 'DISPATCH_SETPOINT': return `${v} kW`;
    default: return v;
  }
}

function response(x: Row): string {
  if (x.error) return `<span class="bad">refused by the VTN</span> ${esc(x.error)}`;
  if (x.outweighed_by) return `<span class="muted">outweighed by ${esc(x.outweighed_by)}: not obeyed, as the priorities ask</span>`;
  if (x.seen_after_s === null) return x.asks.startsWith('none') ? '<span class="muted">nothing asked</span>' : '<span class="bad">no effect seen</span>';
  const then = [x.state, x.target_kw !== undefined ? `target ${x.target_kw} kW` : ''].filter(Boolean).map((t) => esc(t!)).join(', ');
  const ended = x.ended_after_s === undefined ? '' : x.ended_after_s === null ? '; <span class="bad">still curtailed after the deletion</span>' : `; ended ${x.ended_after_s.toFixed(1)} s after the deletion`;
  return `${x.seen_after_s.toFixed(1)} s after its start <span class="muted">(${then})</span>${ended}`;
}

/**
 * "OpenADR events": each event the scenario's utility created at the simulated VTN, what it asks
 * of the site, and when the site first showed it (the agent's telemetry: trip source openadr,
 * the controller's target) counted from the event's start.
 */
export function openAdrSection(s: Summary): string {
  const rows = s.openadr_events ?? [];
  const interval = (x: Row) => `${clock(x.start_s, true)} – ${x.end_s !== undefined ? clock(x.end_s, true) : 'open-ended'}${x.priority !== undefined ? ` <span class="muted">priority ${x.priority}</span>` : ''}`;
  const row = (x: Row) => `<tr><td>${esc(x.name)}<br><span class="muted">${esc(x.program)}</span></td><td>${clock(x.created_s, true)}</td><td>${esc(x.type)}</td><td>${valueText(x)}</td><td>${interval(x)}</td><td>${x.deleted_s !== undefined ? clock(x.deleted_s, true) : '–'}</td><td>${esc(x.asks)}</td><td>${response(x)}</td></tr>`;
  return `<h2>OpenADR events</h2>
<p class="muted">Events the utility created at the simulated VTN ("now" starts count from their creation) and the site's response as its telemetry showed it: a curtailment as a trip from openadr, a cap or setpoint as the controller's target at or below it, an import limit as the target cut back.</p>
<table><tr><th>event</th><th>created at</th><th>type</th><th>value</th><th>interval</th><th>deleted at</th><th>asks</th><th>site's response</th></tr>
${rows.length ? rows.map(row).join('') : '<tr><td colspan="8" class="muted">no event created in this run</td></tr>'}
</table>`;
}
