import type { Clock } from '../../clock';
import type { Site, TripRecord } from '../../site';
import type { ScadaPort } from './device';
import { MODE_CODE, STATE_CODE, TRIP_BIT } from './map';

/**
 * The SCADA device's view of a running Site: its figures for the registers, and the curtail
 * coil and power cap as the control core's `scada` curtailment and set_power lease.
 */
export interface SitePort extends ScadaPort {
  /** stop listening to the site's trips */
  dispose(): void;
}

export function sitePort(site: Site, clock: Clock): SitePort {
  const started = clock.monotonic();
  let lastLatencyMs = Number.NaN;
  const onTrip = (t: TripRecord) => { lastLatencyMs = t.latencyMs; };
  site.on('trip', onTrip);
  const c = site.controller;
  const capacity = site.config.control.max_kw;

  return {
    values() {
      const t = site.telemetry();
      // a stale or absent meter reading is unknown (NaN), not its last value
      const fresh = t.meter ? !t.meter.stale && t.meter.age_ms >= 0 : true;
      let bits = 0;
      for (const s of c.tripSources) bits |= 1 << TRIP_BIT[s];
      let trips = 0;
      for (const n of Object.values(site.tripCounts)) trips += n;
      const lease = c.leaseKw;
      const kw = site.minersKw();
      return {
        state: STATE_CODE[c.state],
        trip_sources: bits,
        mode: MODE_CODE[c.mode],
        heartbeat_s: (clock.monotonic() - started) / 1000,
        grid_hz: fresh ? t.grid.hz : Number.NaN,
        grid_kw: fresh ? t.grid.kw : Number.NaN,
        miners_kw: kw,
        target_kw: c.target,
        // a curtail sheds every board and miner: what they draw now
        flexible_kw: kw,
        capacity_kw: capacity,
        last_trip_latency_ms: lastLatencyMs,
        trips,
        cap_kw: lease ?? Number.NaN,
      };
    },
    curtailed: () => c.tripSources.includes('scada'),
    curtail: () => site.curtail('scada'),
    endCurtail: () => c.endCurtail('scada'),
    setCap: (kw, ttlS) => {
      const r = c.setPower(kw, ttlS);
      if (!r.ok) throw new Error(r.error); // the device checked the range: a bug if reached
    },
    clearCap: () => c.clearPower(),
    dispose: () => { site.off('trip', onTrip); },
  };
}
