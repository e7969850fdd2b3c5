import type { ScadaStats } from './server';

/**
 * Prometheus text for the SCADA server, appended to /metrics by the composition root. Same
 * hand-written exposition as agent/server/metrics.ts.
 */
export function scadaMetrics(s: ScadaStats): string {
  const out: string[] = [];
  const family = (name: string, type: 'gauge' | 'counter', help: string, samples: [Record<string, string> | undefined, number][]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of samples) {
      const l = labels ? `{${Object.entries(labels).map(([k, x]) => `${k}="${x}"`).join(',')}}` : '';
      out.push(`${name}${l} ${v}`);
    }
  };
  family('hashflex_scada_listening', 'gauge', '1 while the SCADA Modbus TCP server is bound to scada.listen', [[undefined, s.listening ? 1 : 0]]);
  family('hashflex_scada_connections', 'gauge', 'SCADA clients connected now', [[undefined, s.connections]]);
  family('hashflex_scada_connections_total', 'counter', 'SCADA connections accepted', [[undefined, s.accepted]]);
  family('hashflex_scada_refused_total', 'counter', 'SCADA connections refused: not in scada.allow, over the connection limit, or over the accept rate',
    (['allow', 'limit', 'rate'] as const).map((r) => [{ reason: r }, s.refused[r]]));
  family('hashflex_scada_requests_total', 'counter', 'Modbus requests received', [[undefined, s.requests]]);
  family('hashflex_scada_writes_total', 'counter', 'Writes obeyed: curtail (coil 1), release (coil 0), cap (registers 100-101), lease (register 102)',
    (['curtail', 'release', 'cap', 'lease'] as const).map((k) => [{ what: k }, s.writes[k]]));
  family('hashflex_scada_exceptions_total', 'counter', 'Modbus exception replies by code (1 function, 2 address, 3 value, 4 device failure, 11 unit id)',
    [1, 2, 3, 4, 11].map((c) => [{ code: String(c) }, s.exceptions[c] ?? 0]));
  family('hashflex_scada_malformed_total', 'counter', 'Connections closed for a byte stream that is not Modbus TCP', [[undefined, s.malformed]]);
  family('hashflex_scada_flood_cuts_total', 'counter', 'Connections cut for exceeding the request rate', [[undefined, s.floodCuts]]);
  family('hashflex_scada_timeouts_total', 'counter', 'Connections closed as idle, half-open or not reading their replies', [[undefined, s.timeouts]]);
  family('hashflex_scada_evicted_total', 'counter', 'Idle connections closed to make room for a new client', [[undefined, s.evicted]]);
  return `${out.join('\n')}\n`;
}
