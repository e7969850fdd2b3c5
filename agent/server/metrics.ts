import type { Uplink } from '../uplink/client';
import type { Journal } from '../uplink/journal';

/**
 * Prometheus text (exposition format 0.0.4) for the uplink and its journal, for the composition
 * root to append to the rest of /metrics. Hand-written: a dozen gauges and counters read from
 * fields the uplink already keeps do not need a metrics library on the board.
 */
export function uplinkMetrics(up: Uplink, journal: Journal): string {
  const s = up.stats;
  const j = journal.stats();
  const lines: string[] = [];
  const put = (name: string, type: 'gauge' | 'counter', help: string, value: number): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`);
  };
  put('hashflex_uplink_connected', 'gauge', '1 while the site controller link is up', up.connected ? 1 : 0);
  put('hashflex_uplink_connects_total', 'counter', 'Successful connections to the site controller', s.connects);
  put('hashflex_uplink_disconnects_total', 'counter', 'Lost connections to the site controller', s.disconnects);
  put('hashflex_uplink_auth_failures_total', 'counter', 'Connections refused with 401/403', s.authFailures);
  put('hashflex_uplink_frames_sent_total', 'counter', 'Telemetry and event frames written to the link, resends included', s.sent);
  put('hashflex_uplink_commands_total', 'counter', 'Valid commands handed to the agent', s.commands);
  put('hashflex_uplink_commands_rejected_total', 'counter', 'Invalid frames answered with ack ok:false', s.rejected);
  put('hashflex_uplink_flood_dropped_total', 'counter', 'Commands dropped over the rate limit', s.floodDropped);
  put('hashflex_uplink_flood_cuts_total', 'counter', 'Links cut because of a command flood', s.floodCuts);
  put('hashflex_uplink_oversized_total', 'counter', 'Links closed because of an oversized frame', s.oversized);
  put('hashflex_journal_errors_total', 'counter', 'Journal writes or deletes that failed', s.journalErrors);
  put('hashflex_journal_frames', 'gauge', 'Frames waiting for the controller to confirm them', j.frames);
  put('hashflex_journal_bytes', 'gauge', 'Size of the waiting frames', j.bytes);
  put('hashflex_journal_last_seq', 'gauge', 'Last seq assigned', j.lastSeq);
  put('hashflex_journal_dropped_total', 'counter', 'Telemetry frames dropped because the journal was full', j.dropped);
  return `${lines.join('\n')}\n`;
}
