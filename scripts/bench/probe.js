'use strict';
// Preloaded into the agent by `hashflex bench footprint` (`node -r scripts/bench/probe.js`), so
// the agent needs no instrumentation of its own: event-loop delay (perf_hooks histogram, 10 ms
// resolution as Node's docs suggest for low overhead) and GC pauses (PerformanceObserver 'gc').
// Figures go to $HASHFLEX_PROBE_OUT at exit, and every 5 s in case the agent dies hard; V8 heap
// figures every 10 s go into a timeline (seconds since the reset), to see whether memory levels off.
const fs = require('node:fs');
const { monitorEventLoopDelay, PerformanceObserver, constants } = require('node:perf_hooks');

const out = process.env.HASHFLEX_PROBE_OUT;
if (out) {
  const eld = monitorEventLoopDelay({ resolution: 10 });
  eld.enable();
  const kinds = {
    [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
    [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
  };
  // pauses recorded only after a reset (the bench resets after warm-up by SIGUSR2)
  let pauses = [];
  let byKind = {};
  let since = performance.now();
  let timeline = [];
  const mb = (b) => Math.round((b / 2 ** 20) * 100) / 100;
  setInterval(() => {
    const m = process.memoryUsage();
    timeline.push({ s: Math.round((performance.now() - since) / 1000), heapUsedMb: mb(m.heapUsed), heapTotalMb: mb(m.heapTotal), externalMb: mb(m.external) });
  }, 10_000).unref();
  const gc = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      pauses.push(e.duration);
      const k = kinds[(e.detail && e.detail.kind) ?? e.kind] ?? 'other';
      byKind[k] = (byKind[k] ?? 0) + 1;
    }
  });
  gc.observe({ entryTypes: ['gc'] });
  // the histogram records the time between ticks of a 10 ms timer: the delay is what is beyond it
  const RES_NS = 10e6;
  const ms = (ns) => Math.round(Math.max(0, ns - RES_NS) / 1e4) / 100;
  const write = () => {
    const s = [...pauses].sort((a, b) => a - b);
    const q = (p) => (s.length ? s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)] : 0);
    const r = (x) => Math.round(x * 100) / 100;
    const figures = {
      eventLoopDelayMs: { p50: ms(eld.percentile(50)), p99: ms(eld.percentile(99)), max: ms(eld.max), mean: ms(eld.mean), resolutionMs: 10 },
      gc: { count: s.length, totalMs: r(s.reduce((a, b) => a + b, 0)), p50: r(q(0.5)), p99: r(q(0.99)), max: r(s[s.length - 1] ?? 0), byKind },
      heapUsedMb: r(process.memoryUsage().heapUsed / 2 ** 20),
      timeline,
    };
    try { fs.writeFileSync(out, JSON.stringify(figures)); } catch { /* the bench reports a missing file */ }
  };
  process.on('SIGUSR2', () => { eld.reset(); pauses = []; byKind = {}; timeline = []; since = performance.now(); });
  setInterval(write, 5000).unref();
  process.on('exit', write);
}
