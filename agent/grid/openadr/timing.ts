/**
 * Times as the VEN writes them into reports: RFC 3339 instants and ISO 8601 durations. (The
 * reading side, durations and the 'now' start, is spec-time.ts, shared with the simulated VTN.)
 */

/** wall ms → RFC 3339 (UTC) */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

/** a span of ms → ISO 8601 duration ("PT1H", "PT15M30S", "PT0S"); open-ended → "P9999Y" */
export function isoDuration(ms: number): string {
  if (!Number.isFinite(ms)) return 'P9999Y';
  let s = Math.max(0, Math.round(ms)) / 1000;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s = Math.round((s - m * 60) * 1000) / 1000;
  return `PT${h ? `${h}H` : ''}${m ? `${m}M` : ''}${s || (!h && !m) ? `${s}S` : ''}`;
}
