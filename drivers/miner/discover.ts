import { setMaxListeners } from 'node:events';
import { realClock, type Clock } from '../../agent/clock';
import type { MinerStatus, NetworkMiner } from '../../agent/hardware';
import type { MinerIdentity } from './identify';
import { createMiner, identifyMiner, isMinerDriver } from './index';
import { MINER_DEFAULTS } from './options';
import { answered, probeHost, Slots, type Answer, type ProbePorts, type ProbeResult } from './probe';
import { expandRanges } from './ranges';

/**
 * `hashflex discover` without the command line (agent/discover.ts prints and writes): ranges ->
 * addresses (ranges.ts: allowed kinds, at most 4,096) -> one probe per address (probe.ts) ->
 * identities -> for each miner found, one reading from its family's driver.
 *
 * Bounds: at most `concurrency` connections open at once (Slots), every exchange within
 * `timeoutMs`, and the whole run within `deadlineMs`: at the deadline every probe in flight is
 * cut and the addresses not yet probed are counted, not scanned. A driver started for a reading
 * gets `READING_TIMEOUTS` × `timeoutMs` for its first poll; its close() then waits at most for the
 * request it has in flight, which its own timeout (`timeoutMs`) ends.
 */
export const DISCOVER_DEFAULTS = { timeoutMs: 1500, concurrency: 64, deadlineMs: 120_000 } as const;
/** a driver's first poll may take a few requests (Antminer: API reads, then its web config) */
export const READING_TIMEOUTS = 4;

export interface DiscoverOptions {
  ranges: readonly string[];
  timeoutMs?: number;
  concurrency?: number;
  deadlineMs?: number;
  /** the ports to probe; the firmware's own (api 4028, web 80) by default */
  ports?: ProbePorts;
  /** take one status() from each miner's driver (default true) */
  readStatus?: boolean;
  clock?: Clock;
  /** the connection slots (a test reads their peak) */
  slots?: Slots;
  /** ends the run early, as the deadline does (the command's SIGINT) */
  signal?: AbortSignal;
}

export interface FoundMiner {
  address: string;
  /** for the config: from the model and the address (minerId) */
  id: string;
  make: string;
  model: string;
  firmware: string;
  driver: string;
  /** one reading by the family's driver; absent when none was taken or the driver is not built in */
  status?: Pick<MinerStatus, 'on' | 'kw' | 'kwMeasured' | 'ths' | 'tempC' | 'state' | 'setting' | 'fault'>;
  /** why there is no reading */
  note?: string;
}

/** an address that answered but is no miner of a family we know */
export interface UnknownHost {
  address: string;
  api: Answer;
  web: Answer;
  /** the web server's status and WWW-Authenticate realm, where it answered */
  httpStatus?: number;
  realm?: string;
}

export interface DiscoverResult {
  /** addresses in the ranges, and how many were probed before the deadline */
  addresses: number;
  probed: number;
  deadlineReached: boolean;
  /** ended by the caller's signal */
  interrupted: boolean;
  miners: FoundMiner[];
  unknown: UnknownHost[];
  elapsedMs: number;
}

export async function discover(o: DiscoverOptions): Promise<DiscoverResult> {
  const addresses = expandRanges(o.ranges); // throws (UsageInvalid) before anything is sent
  const timeoutMs = o.timeoutMs ?? DISCOVER_DEFAULTS.timeoutMs;
  const concurrency = o.concurrency ?? DISCOVER_DEFAULTS.concurrency;
  const deadlineMs = o.deadlineMs ?? DISCOVER_DEFAULTS.deadlineMs;
  const clock = o.clock ?? realClock;
  const slots = o.slots ?? new Slots(concurrency);
  const started = clock.monotonic();
  const abort = new AbortController();
  // every exchange in flight listens to it: up to `concurrency` at once, by design
  setMaxListeners(concurrency + 16, abort.signal);
  let timedOut = false;
  const deadline = clock.setTimeout(() => { timedOut = true; abort.abort(); }, deadlineMs);
  const onStop = () => abort.abort();
  if (o.signal?.aborted) abort.abort();
  o.signal?.addEventListener('abort', onStop, { once: true });

  const miners: FoundMiner[] = [];
  const unknown: UnknownHost[] = [];
  let next = 0;
  let probed = 0;
  const worker = async () => {
    while (next < addresses.length && !abort.signal.aborted) {
      const address = addresses[next++];
      const r = await probeHost(address, { identify: identifyMiner, timeoutMs, ports: o.ports, slots, signal: abort.signal });
      // cut by the deadline: not counted as probed, unless what came before the cut identified it
      const cut = r.api === 'aborted' || r.web === 'aborted';
      if (cut && !r.identity) break;
      probed++;
      if (r.identity) {
        const found = foundOf(address, r.identity);
        if (o.readStatus !== false) await slots.run(() => readStatus(found, { timeoutMs, ports: o.ports, clock, signal: abort.signal }), 2);
        miners.push(found);
      } else if (answered(r)) {
        unknown.push(unknownOf(r));
      }
    }
  };
  try {
    // workers beyond the slots would only wait for one: there is no use in more
    await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, addresses.length)) }, worker));
  } finally {
    deadline.cancel();
    o.signal?.removeEventListener('abort', onStop);
  }
  const byAddress = (a: { address: string }, b: { address: string }) => addressOrder(a.address) - addressOrder(b.address);
  return {
    addresses: addresses.length,
    probed,
    deadlineReached: timedOut,
    interrupted: abort.signal.aborted && !timedOut,
    miners: miners.sort(byAddress),
    unknown: unknown.sort(byAddress),
    elapsedMs: clock.monotonic() - started,
  };
}

function foundOf(address: string, id: MinerIdentity): FoundMiner {
  return { address, id: minerId(id.model, address, id.driver), make: id.make, model: id.model, firmware: id.firmware, driver: id.driver };
}

function unknownOf(r: ProbeResult): UnknownHost {
  const u: UnknownHost = { address: r.host, api: r.api, web: r.web };
  if (r.evidence.web) {
    u.httpStatus = r.evidence.web.status;
    const realm = /realm="([^"]*)"/i.exec(r.evidence.web.headers['www-authenticate'] ?? '')?.[1];
    if (realm !== undefined) u.realm = realm;
  }
  return u;
}

const addressOrder = (a: string) => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);

/**
 * A config id from the model and the address: "Antminer S19 Pro" at 10.0.1.21 -> s19-pro-10-0-1-21.
 * The maker's own name is left out where the model starts with it; "+" is kept as "p" (M30S++ and
 * M30S+ are different machines); the driver's name stands in for an unknown model.
 */
export function minerId(model: string, address: string, driver: string): string {
  let m = model.trim().toLowerCase().replace(/^(antminer|whatsminer)\s+/, '');
  if (!m || m === 'unknown') m = driver;
  const slug = m.replace(/\+/g, 'p').replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40).replace(/-+$/, '') || driver;
  return `${slug}-${address.replace(/[.:]/g, '-')}`;
}

/**
 * One reading: the family's driver with the defaults (and the run's timeout), started, read once,
 * closed. It also fills in a model or firmware the probe left unknown (a Whatsminer known by its
 * web page alone: its driver reads them, over API v3 on 4433 where the firmware speaks it).
 */
async function readStatus(found: FoundMiner, o: { timeoutMs: number; ports?: ProbePorts; clock: Clock; signal: AbortSignal }): Promise<void> {
  if (!isMinerDriver(found.driver)) {
    found.note = `no built-in driver for "${found.driver}"`;
    return;
  }
  if (o.signal.aborted) {
    found.note = 'not read: the run reached its deadline';
    return;
  }
  let miner: NetworkMiner;
  try {
    miner = createMiner({ id: found.id, host: found.address, driver: found.driver, ports: { ...o.ports }, pollMs: MINER_DEFAULTS.pollMs, timeoutMs: o.timeoutMs }, o.clock);
  } catch (e) {
    found.note = `driver not built: ${(e as Error).message}`;
    return;
  }
  try {
    let timer: { cancel(): void } | undefined;
    let onAbort: (() => void) | undefined;
    const outcome = await Promise.race([
      miner.start().then(() => 'read' as const),
      new Promise<'late'>((r) => { timer = o.clock.setTimeout(() => r('late'), o.timeoutMs * READING_TIMEOUTS); }),
      new Promise<'late'>((r) => { onAbort = () => r('late'); o.signal.addEventListener('abort', onAbort, { once: true }); }),
    ]).finally(() => {
      timer?.cancel();
      if (onAbort) o.signal.removeEventListener('abort', onAbort);
    });
    const s = miner.status();
    found.status = { on: s.on, kw: s.kw, kwMeasured: s.kwMeasured, ths: s.ths, tempC: s.tempC, state: s.state, setting: s.setting, ...(s.fault ? { fault: s.fault } : {}) };
    if (outcome === 'late') found.note = 'the driver\'s first reading did not finish in time';
    fillIdentity(found, miner);
  } catch (e) {
    found.note = `no reading: ${(e as Error).message}`;
  } finally {
    await miner.close().catch(() => {});
  }
}

/** what a driver learnt at start (Whatsminer: `identity`; Antminer: `details()`), where the probe had nothing */
function fillIdentity(found: FoundMiner, miner: NetworkMiner): void {
  const d = miner as unknown as { identity?: { model?: string; firmware?: string }; details?: () => { model?: string; firmware?: string } };
  let learnt: { model?: string; firmware?: string } | undefined;
  try {
    learnt = d.identity ?? (typeof d.details === 'function' ? d.details() : undefined);
  } catch {
    learnt = undefined;
  }
  if (!learnt) return;
  // 'unknown', or only the family's name (an Antminer known by its web realm alone)
  const generic = ['unknown', 'antminer', 'whatsminer', 'avalon'].includes(found.model.toLowerCase());
  if (generic && learnt.model && learnt.model.toLowerCase() !== found.model.toLowerCase()) {
    found.model = learnt.model;
    found.id = minerId(found.model, found.address, found.driver);
  }
  if (found.firmware === 'unknown' && learnt.firmware) found.firmware = learnt.firmware;
}
