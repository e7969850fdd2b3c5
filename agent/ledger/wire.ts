import type { EventEmitter } from 'node:events';
import type { Clock } from '../clock';
import type { MeterSample } from '../hardware';
import type { Ledger } from './ledger';
import type { LedgerRecord } from './record';

/**
 * Feeds a Ledger from the running agent, so the composition root needs one call:
 *  - every meter 'sample' -> ledger.sample(), with the miners' power at that moment (energy is
 *    timed by the sample's monotonic stamp `mono`, labels by its wall time `at`)
 *  - the miners' power once a second as well, so it is tracked while the meter is silent
 *  - site 'trip' ({source, latencyMs}) -> note('trip'); site 'control' releases -> note('release')
 *  - commands from the controller (uplink 'command') -> note('command')
 * Returns a function that detaches it all (call before ledger.stop()).
 */
export interface LedgerSources {
  meter: EventEmitter;
  /** the miners' present electrical power (kW), e.g. site.minersKw() */
  minersKw(): number;
  /** emits 'trip' ({ source, latencyMs }) and 'control' ({ kind, ... }) as agent/site.ts does */
  site?: EventEmitter;
  /** emits 'command' ({ id, action, ... }) as agent/uplink/client.ts does */
  uplink?: EventEmitter;
  clock: Clock;
}

export function wireLedger(ledger: Ledger, src: LedgerSources): () => void {
  const onSample = (s: MeterSample) => {
    ledger.sample(s);
    ledger.miners(s.at, src.minersKw(), s.mono);
  };
  const onTrip = (t: { source: string; latencyMs: number }) =>
    ledger.note('trip', { source: t.source, latency_ms: Math.round(t.latencyMs * 100) / 100 });
  const onControl = (e: { kind: string }) => {
    if (e.kind === 'release') ledger.note('release', e);
  };
  const onCommand = (c: { id: string; action: string; kw?: number; ttl_s?: number }) =>
    ledger.note('command', { id: c.id, action: c.action, ...(c.kw !== undefined ? { kw: c.kw } : {}), ...(c.ttl_s !== undefined ? { ttl_s: c.ttl_s } : {}) });
  src.meter.on('sample', onSample);
  src.site?.on('trip', onTrip);
  src.site?.on('control', onControl);
  src.uplink?.on('command', onCommand);
  const timer = src.clock.setInterval(() => ledger.miners(src.clock.now(), src.minersKw(), src.clock.monotonic()), 1000);
  return () => {
    timer.cancel();
    src.meter.off('sample', onSample);
    src.site?.off('trip', onTrip);
    src.site?.off('control', onControl);
    src.uplink?.off('command', onCommand);
  };
}

/**
 * The uplink event body carrying a record (DESIGN.md §4 allows additions): kind "ledger", the
 * record whole, so the controller holds a verifiable copy. The record's own seq stays inside
 * `record`; the frame's `seq` is the uplink's.
 */
export function ledgerEventBody(record: LedgerRecord): { kind: 'ledger'; source: 'ledger'; record: LedgerRecord } {
  return { kind: 'ledger', source: 'ledger', record };
}
