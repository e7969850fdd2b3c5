import { benchUplink } from './bench-uplink';

/**
 * `hashflex bench uplink` as a program, with the knobs the CLI does not offer:
 *   npx tsx scripts/bench-uplink-main.ts [--json] [--frames N] [--backlog N]
 *
 * Its own file, never imported: a module that also runs as a program (`require.main === module`)
 * would run inside the board bundle too, where that test is true for every module it holds.
 */
const args = process.argv.slice(2);
const num = (flag: string): number | undefined => {
  const i = args.indexOf(flag);
  return i >= 0 ? Number(args[i + 1]) : undefined;
};
benchUplink({ frames: num('--frames'), backlog: num('--backlog') }).then(
  (r) => {
    if (args.includes('--json')) console.log(JSON.stringify(r));
    else {
      const j = r.journalAppendPerS;
      console.log(`journal appends/s: ${j.full} (full: fsync inline), ${j.async} (async: fsync on the thread pool), ${j.normal} (normal: no fsync)`);
      for (const m of ['full', 'async', 'asyncWorker'] as const) {
        console.log(`append main-thread latency (${m}): median ${r.appendMs[m].median} ms, p99 ${r.appendMs[m].p99} ms, max ${r.appendMs[m].max} ms`);
      }
      console.log(`end to end (journal -> ws -> controller -> received -> delete): ${r.endToEndPerS} frames/s`);
      console.log(`telemetry() call on the main thread: median ${r.telemetryCallMs.median} ms, p99 ${r.telemetryCallMs.p99} ms, max ${r.telemetryCallMs.max} ms`);
      console.log(`resend of ${r.resend.frames} queued frames: ${r.resend.toLastSeqMs} ms to the last seq (${r.resend.framesPerS}/s), ${r.resend.toEmptyJournalMs} ms to an empty journal`);
      console.log(`frame size: ${r.frameBytes} bytes`);
    }
  },
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
