import net from 'node:net';
import { realClock } from '../clock';
import type { Config } from '../config';
import type { MinerStatus, NetworkMiner } from '../hardware';
import { createMiner, identifyMiner, minerDrivers } from '../../drivers/miner';
import { ACCESS_DENIED, statusOf } from '../../drivers/miner/avalon/ascset';
import { answered, probeHost, type ProbeResult } from '../../drivers/miner/probe';
import { rpcCall } from '../../drivers/miner/rpc';
import { sleep, timer, type CheckResult, type DoctorContext } from './types';

/**
 * Doctor checks of the network miners (DESIGN.md §7), each through the driver the agent runs:
 *  - `miner ID`: the driver starts and its first reading has no fault: the family identified
 *    (model, firmware, API), its power, hashrate, state and setting;
 *  - `login ID`: the authenticated part works: Antminer's web CGI takes the Digest login (what a
 *    stop is sent through), Whatsminer's write credentials are issued and proven (a v2 token and
 *    an encrypted read, or the v3 account), Avalon's API gives this board write access (its API
 *    has no accounts: an `ascset 0,help`, which changes nothing, answers other than code 45);
 *  - `switch ID`, only with `--switch-miners` (a technician opts in to stopping machines): stop,
 *    wait for the readings to show it asleep, wake it, wait for it to hash again, and leave it as
 *    it was found: a hashing miner ends hashing at its setting (it is woken straight at it), a
 *    sleeping one is woken at its highest setting and put back to sleep. Without the flag each
 *    miner gets a skipped line saying how to ask for it, and nothing is sent but reads.
 * A miner that does not answer, or answers as something else, is probed read-only as `hashflex
 * discover` probes (drivers/miner/probe.ts), so the hint says what is there. Nothing here stops
 * a miner but the switch check, and nothing is ever sent to a host that did not identify as the
 * configured family (the drivers refuse to).
 */

type MinerConfig = Config['miners'][number];

/** miners started and read at once (each driver holds one or two connections while it starts) */
const READ_AT_ONCE = 16;
/** miners switched at once: the site's load moves by at most this many machines */
const SWITCH_AT_ONCE = 4;

const MAKE: Record<string, string> = {
  antminer: 'Bitmain Antminer', whatsminer: 'MicroBT Whatsminer', avalon: 'Canaan Avalon',
  // Braiins OS+ runs on more than one maker's hardware: its make comes from what the miner says
  luxos: 'Bitmain Antminer (LuxOS)', vnish: 'Bitmain Antminer (VNish)',
};

/** a refused password or account, whatever the family says it with */
const REFUSED = /credentials refused|password refused|wrong (account or )?password|access denied|\bcode -4\b|\b401\b/i;
/** faults of the authenticated part, not of the readings: Antminer's web CGI, Whatsminer's write credentials */
const LOGIN_SCOPE = /^(web: |credentials refused|no write credentials)/;

// ---- the drivers ----

function driverFor(ctx: DoctorContext, m: MinerConfig): NetworkMiner {
  let d = ctx.miners.get(m.id);
  if (d) return d;
  d = createMiner({
    id: m.id, host: m.host, driver: m.driver, ports: m.ports, username: m.username, password: m.password,
    // polled more often than in service while the doctor watches a stop and a wake
    ratedKw: m.rated_kw, pollMs: Math.min(m.poll_ms, ctx.opts.minerPollMs), timeoutMs: m.timeout_ms,
  }, realClock);
  ctx.miners.set(m.id, d);
  return d;
}

/** close every miner's driver (it stops polling; the miners are left as they are) */
export async function closeMiners(ctx: DoctorContext): Promise<void> {
  const all = [...ctx.miners.values()];
  ctx.miners.clear();
  await Promise.allSettled(all.map((d) => d.close()));
}

interface Seen {
  /** the family driving it: `auto` while unidentified */
  family: string;
  make?: string;
  model?: string;
  firmware?: string;
  /** Whatsminer: v2 or v3 */
  api?: string;
  /** Antminer: the web server's Digest realm */
  realm?: string;
}

/** what the driver found out about the miner (families expose it differently: details() or identity) */
function seenOf(d: NetworkMiner): Seen {
  const auto = d as NetworkMiner & { delegate?: NetworkMiner; identity?: { make?: string } };
  const inner = (auto.delegate ?? d) as NetworkMiner & {
    details?: () => { model?: string; firmware?: string; realm?: string };
    identity?: { model?: string; firmware?: string; api?: string };
  };
  const details = typeof inner.details === 'function' ? inner.details() : undefined;
  return {
    family: inner.driver,
    make: MAKE[inner.driver] ?? auto.identity?.make,
    model: details?.model ?? inner.identity?.model,
    firmware: details?.firmware ?? inner.identity?.firmware,
    api: inner.identity?.api,
    realm: details?.realm,
  };
}

/** a probe's identity as the technician knows the machine: "Bitmain Antminer S19 Pro" */
const nameOf = (id: { make: string; model: string; driver: string }) => withModel(MAKE[id.driver] ?? id.make, id.model);

const identified = (s: Seen) => s.family !== 'auto' && (s.model !== undefined || s.firmware !== undefined);

function describeSeen(s: Seen): string {
  const make = s.make ?? s.family;
  const fw = s.firmware && s.firmware !== 'unknown' ? `, firmware ${s.firmware}` : '';
  return `${withModel(make, s.model)}${fw}${s.api ? ` (API ${s.api})` : ''}`;
}

/** "Bitmain Antminer" and "S19 Pro" or "Antminer S19 Pro": "Bitmain Antminer S19 Pro"; "Canaan Avalon" and "AvalonMiner 1466": "Canaan AvalonMiner 1466" */
function withModel(make: string, model: string | undefined): string {
  if (!model || model === 'unknown') return make;
  const [vendor, line] = make.split(' ');
  return line && model.toLowerCase().startsWith(line.toLowerCase()) ? `${vendor} ${model}` : `${make} ${model}`;
}

function reading(st: MinerStatus): Record<string, unknown> {
  const finite = (x: number) => (Number.isFinite(x) ? Math.round(x * 1000) / 1000 : null);
  return {
    state: st.state, on: st.on, kw: finite(st.kw), kw_measured: st.kwMeasured, ths: finite(st.ths), temp_c: finite(st.tempC),
    setting: st.setting, ...(st.fault ? { fault: st.fault } : {}),
  };
}

function power(st: MinerStatus): string {
  return `${st.kw.toFixed(2)} kW${st.kwMeasured ? '' : ' (estimated)'}`;
}

function describeReading(d: NetworkMiner, st: MinerStatus): string {
  const s = d.settings;
  const ths = Number.isFinite(st.ths) ? `, ${st.ths.toFixed(1)} TH/s` : '';
  return `${st.state}, ${power(st)}${ths}, setting ${st.setting} (${s.unit} ${s.min}-${s.max}; 0 asleep)`;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<never>((_, reject) => { t = setTimeout(() => reject(new Error(`${what}: no first reading in ${ms / 1000} s`)), ms); }),
  ]);
}

/** run tasks `width` at a time, in order; after an abort no new one starts (those absent from the result) */
async function pool<T>(tasks: Array<() => Promise<T>>, width: number, signal?: AbortSignal): Promise<T[]> {
  const out: Array<T | undefined> = new Array(tasks.length);
  let next = 0;
  const lane = async () => {
    while (next < tasks.length && !signal?.aborted) {
      const i = next++;
      out[i] = await tasks[i]();
    }
  };
  const lanes = await Promise.allSettled(Array.from({ length: Math.min(width, tasks.length) }, lane));
  const failed = lanes.find((l): l is PromiseRejectedResult => l.status === 'rejected');
  if (failed) throw failed.reason;
  return out.filter((x): x is T => x !== undefined);
}

// ---- reachable and login ----

/** the `miner` line of every configured miner, then its `login` line (the order of CHECKS) */
export async function checkMiners(ctx: DoctorContext): Promise<CheckResult[]> {
  const miners = ctx.config.miners;
  // as fans: a site without the part has no line for it
  if (!miners.length) return [];
  const both = await pool(miners.map((m, i) => () => readOne(ctx, m, i)), READ_AT_ONCE, ctx.opts.signal);
  return [...both.map((b) => b.reach), ...both.map((b) => b.login)];
}

async function readOne(ctx: DoctorContext, m: MinerConfig, i: number): Promise<{ reach: CheckResult; login: CheckResult }> {
  const r = timer('miner', m.id);
  const l = timer('login', m.id);
  const notTried = (why: string) => l.skip(`not tried: ${why}`, 'fix its miner check first');
  let d: NetworkMiner;
  try {
    d = driverFor(ctx, m);
  } catch (e) {
    return {
      reach: r.fail(`${m.id}: ${(e as Error).message}`, `set miners[${i}].driver to one this version drives (${minerDrivers().join(', ')}) or auto`),
      login: notTried('no driver'),
    };
  }
  let error: string | undefined;
  try {
    await withTimeout(d.start(), ctx.opts.minerTimeoutMs, `${m.id} (${m.host})`);
  } catch (e) {
    error = (e as Error).message;
  }
  const st = d.status();
  const seen = seenOf(d);
  const data = { host: m.host, driver: seen.family, configured_driver: m.driver, make: seen.make, model: seen.model, firmware: seen.firmware, ...(seen.api ? { api: seen.api } : {}), ...reading(st) };
  const fault = error ?? st.fault;
  const loginFault = fault !== undefined && identified(seen) && (REFUSED.test(fault) || LOGIN_SCOPE.test(fault));
  if (fault !== undefined && !loginFault) {
    const probe = await probeHost(m.host, { identify: identifyMiner, timeoutMs: m.timeout_ms, ports: { api: m.ports.api, web: m.ports.web }, signal: ctx.opts.signal })
      .catch(() => undefined);
    return { reach: unreachable(r, m, i, seen, fault, probe, data), login: notTried('the miner did not answer as it should') };
  }
  const reach = r.pass(`${m.id}: ${describeSeen(seen)} at ${m.host}: ${describeReading(d, st)}`, data);
  const login = loginFault ? refused(l, m, i, seen, fault!) : await proveLogin(ctx, l, m, i, seen);
  if (login.status === 'pass') ctx.minersUp.add(m.id);
  return { reach, login };
}

/** the subnet to scan for a host that is not what its config says */
function discoverHint(host: string): string {
  const where = net.isIPv4(host) ? `${host.split('.').slice(0, 3).join('.')}.0/24` : 'the site\'s subnet (e.g. 10.0.1.0/24)';
  return `\`hashflex discover ${where}\` lists the miners this board can see, with their drivers`;
}

function unreachable(r: ReturnType<typeof timer>, m: MinerConfig, i: number, seen: Seen, fault: string, probe: ProbeResult | undefined, data: Record<string, unknown>): CheckResult {
  const k = `miners[${i}]`;
  const how = probe ? `4028 ${probe.api}, web ${probe.web === 'http' ? `HTTP ${probe.evidence.web?.status}` : probe.web}` : 'not probed';
  const d = { ...data, fault, probe: probe ? { api: probe.api, web: probe.web, ...(probe.identity ? { identity: probe.identity } : {}) } : undefined };
  const id = probe?.identity;
  if (id && id.driver !== seen.family && id.driver !== m.driver) {
    return r.fail(`${m.id}: ${m.host} answers as a ${nameOf(id)} (firmware ${id.firmware}), not as ${m.driver === 'auto' ? 'a miner' : `a ${MAKE[m.driver] ?? m.driver}`} (${fault})`,
      `set ${k}.driver: ${id.driver} (or auto), or fix ${k}.host if the ${m.driver} miner is elsewhere; ${discoverHint(m.host)}`, d);
  }
  if (probe && !answered(probe)) {
    const timedOut = probe.api === 'timeout' || probe.web === 'timeout';
    // the driver's own words (in data.fault) say the same as the probe here
    return r.fail(`${m.id}: nothing answers at ${m.host} (${how})`,
      (timedOut
        ? `is the miner on this board's LAN (ping ${m.host})? a host that accepts connections but never answers within ${k}.timeout_ms (${m.timeout_ms} ms) has a hung API: restart the miner`
        : `is the miner powered and on this board's LAN (ping ${m.host})? check ${k}.host and ${k}.ports (the firmware's own: api 4028, web 80${m.driver === 'whatsminer' ? ', v3 4433' : m.driver === 'braiins' ? ', grpc 50051' : ''}), and a firewall between them`) +
      `; ${discoverHint(m.host)}`, d);
  }
  if (probe && !id) {
    return r.fail(`${m.id}: ${m.host} answers, but as no miner this version drives (${how}; ${fault})`,
      `is ${k}.host the miner? something else has that address (a printer, a PDU, a miner on firmware not yet supported); ${discoverHint(m.host)}`, d);
  }
  const which = id ? `a ${nameOf(id)}` : describeSeen(seen);
  return r.fail(`${m.id}: ${m.host} answers as ${which}, but: ${fault}`,
    `the right driver, but its API does not answer as it should: check ${k}.ports, restart the miner (its API may be wedged), and if it persists ` +
    'send the agent log named at the end with this output', d);
}

function passwordFrom(m: MinerConfig, i: number): string | undefined {
  if (m.password_file) return `miners[${i}].password_file (${m.password_file})`;
  return m.password !== undefined ? `miners[${i}].password` : undefined;
}

/** a login fault of the first reading: a refused password, or a web CGI / token exchange that did not complete */
function refused(l: ReturnType<typeof timer>, m: MinerConfig, i: number, seen: Seen, fault: string): CheckResult {
  const k = `miners[${i}]`;
  const src = passwordFrom(m, i);
  const data = { driver: seen.family, fault, password_from: src ? (m.password_file ? 'password_file' : 'password') : 'firmware default' };
  if (seen.family === 'antminer') {
    const user = m.username ?? 'root';
    if (REFUSED.test(fault)) {
      return l.fail(`${m.id}: the miner refused the password for user ${user} on its web CGI (HTTP Digest): ${fault}`,
        src ? `the miner refused the password: check ${src}: it must hold the password of the miner's web page (user ${user}; ${k}.username if it is not root)`
          : `the miner refused the firmware default (root / root): put the miner's web password in a file and name it in ${k}.password_file (and ${k}.username if it is not root)`, data);
    }
    return l.fail(`${m.id}: its 4028 API answers, but its web CGI (the way stops are sent) does not: ${fault}`,
      `is its web server on port ${m.ports.web ?? 80} (${k}.ports.web overrides)? a firewall between this board and the miner may pass 4028 and not the web port`, data);
  }
  if (seen.family === 'whatsminer') {
    const v3 = seen.api === 'v3';
    if (REFUSED.test(fault)) {
      const account = v3 ? `account ${m.username ?? 'super'}` : 'the admin password';
      return l.fail(`${m.id}: the miner refused ${account} (API ${seen.api ?? 'v2'}): ${fault}`,
        src ? `the miner refused the password: check ${src}: it must hold the password of the miner's web page (${v3 ? `account ${m.username ?? 'super'}, ${k}.username` : 'admin'})`
          : `the miner refused the firmware default (${v3 ? 'super / super' : 'admin'}): put its password in a file and name it in ${k}.password_file`, data);
    }
    return l.fail(`${m.id}: the miner answers, but gave no write credentials: ${fault}`,
      /over max connect|\b136\b/.test(fault)
        ? 'the miner has issued as many tokens as it gives one client (API v2: 32, each for 30 min): stop other tools polling it from this board (is the agent service stopped?) and retry'
        : `is the API's write access enabled in the miner's web page (API v2 needs it)? check ${k}.ports and retry`, data);
  }
  return l.fail(`${m.id}: the miner refused this board: ${fault}`,
    'the miner\'s API does not give this board write access: add this board\'s address with W to the API allow list (cgminer --api-allow W:ADDRESS)', data);
}

/** the first reading had no fault: what proves each family's login */
async function proveLogin(ctx: DoctorContext, l: ReturnType<typeof timer>, m: MinerConfig, i: number, seen: Seen): Promise<CheckResult> {
  const src = passwordFrom(m, i) ?? 'the firmware default';
  const data = { driver: seen.family, password_from: passwordFrom(m, i) ? (m.password_file ? 'password_file' : 'password') : 'firmware default' };
  switch (seen.family) {
    case 'antminer':
      return l.pass(`${m.id}: the web CGI accepted user ${m.username ?? 'root'} with ${src} (HTTP Digest${seen.realm ? `, realm "${seen.realm}"` : ''}); its config is held for a stop`, data);
    case 'whatsminer':
      return l.pass(seen.api === 'v3'
        ? `${m.id}: API v3 accepted account ${m.username ?? 'super'} with ${src} (a signed set.system.led auto)`
        : `${m.id}: API v2 issued a token and took an encrypted read with ${src}`, data);
    case 'avalon':
      return avalonAccess(ctx, l, m, i, data);
    default:
      return l.pass(`${m.id}: no login to check for the ${seen.family} driver`, data);
  }
}

/**
 * The Avalon API has no accounts; writes need W access in its allow list (cgminer --api-allow),
 * which cgminer checks before it reads the command's parameter. `ascset 0,help` changes nothing:
 * any answer but code 45 (access denied) says this board may write.
 */
async function avalonAccess(ctx: DoctorContext, l: ReturnType<typeof timer>, m: MinerConfig, i: number, data: Record<string, unknown>): Promise<CheckResult> {
  let reply: Record<string, unknown>;
  try {
    reply = await rpcCall({ host: m.host, port: m.ports.api ?? 4028, timeoutMs: m.timeout_ms }, 'ascset', '0,help', ctx.opts.signal);
  } catch (e) {
    return l.fail(`${m.id}: no answer to a write-access probe (ascset 0,help): ${(e as Error).message}`,
      `its API answered the readings a moment ago: retry; if it persists, raise miners[${i}].timeout_ms (the API serves one request at a time)`, data);
  }
  const st = statusOf(reply);
  if (st?.code === ACCESS_DENIED) {
    return l.fail(`${m.id}: the miner's API refuses this board's writes (code 45: ${st.msg})`,
      'the miner refused this board: add its address with W to the Avalon API allow list (cgminer --api-allow W:ADDRESS, or the miner\'s web page) so that stops are taken', { ...data, code: st.code });
  }
  return l.pass(`${m.id}: no accounts on the Avalon API; it gives this board write access (ascset 0,help answered)`, { ...data, reply: st?.msg });
}

// ---- sleep and wake ----

/** the `switch` line of every configured miner: skipped without --switch-miners */
export async function checkSwitches(ctx: DoctorContext): Promise<CheckResult[]> {
  const miners = ctx.config.miners;
  if (!miners.length) return [];
  if (!ctx.opts.switchMiners) {
    return miners.map((m) => timer('switch', m.id).skip(`not tried: stopping and waking a miner needs --switch-miners`,
      'run `hashflex doctor -c FILE --switch-miners` to stop each miner, wake it and leave it as found (it stops the machines: the technician\'s choice)'));
  }
  return pool(miners.map((m) => () => switchOne(ctx, m)), SWITCH_AT_ONCE, ctx.opts.signal);
}

interface Step {
  what: string;
  ok: boolean;
  /** the API took the command in (ms) */
  accepted_ms?: number;
  /** the readings showed it done after (ms, from the command) */
  done_ms?: number;
  error?: string;
  from: Record<string, unknown>;
  to: Record<string, unknown>;
}

const asleep = (s: MinerStatus) => s.state === 'sleeping';
const hashingAt = (setting: number) => (s: MinerStatus) => s.state === 'hashing' && s.setting === setting;

/**
 * status() every few ms until `done`, the bound, or an abort. `freshMs`: a reading that says
 * done sooner than this is not believed (it may be from before the command: a poll must come first).
 */
async function waitFor(ctx: DoctorContext, d: NetworkMiner, done: (s: MinerStatus) => boolean, ms: number, freshMs = 0): Promise<{ ok: boolean; status: MinerStatus }> {
  const every = Math.max(20, Math.min(250, ctx.opts.minerPollMs / 4));
  const t0 = performance.now();
  const end = t0 + ms;
  const believed = (st: MinerStatus) => done(st) && performance.now() - t0 >= freshMs;
  let st = d.status();
  while (!believed(st) && performance.now() < end && !ctx.opts.signal?.aborted) {
    await sleep(every, ctx.opts.signal);
    st = d.status();
  }
  return { ok: believed(st), status: st };
}

async function step(ctx: DoctorContext, d: NetworkMiner, what: string, send: () => Promise<void>, done: (s: MinerStatus) => boolean, ms: number): Promise<Step> {
  const before = d.status();
  const t0 = performance.now();
  try {
    await send();
  } catch (e) {
    return { what, ok: false, error: (e as Error).message, from: reading(before), to: reading(d.status()) };
  }
  const accepted = Math.round(performance.now() - t0);
  const w = await waitFor(ctx, d, done, ms);
  return { what, ok: w.ok, accepted_ms: accepted, ...(w.ok ? { done_ms: Math.round(performance.now() - t0) } : {}), from: reading(before), to: reading(w.status) };
}

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const kwOf = (r: Record<string, unknown>) => (typeof r.kw === 'number' ? `${r.kw.toFixed(2)} kW` : '? kW');

function describeStep(s: Step, ms: number): string {
  if (s.error !== undefined) return `${s.what}: not accepted (${s.error})`;
  const took = `${s.what}: accepted in ${s.accepted_ms} ms`;
  const m = s.to.kw_measured ? '' : ' estimated';
  if (s.ok) return `${took}, ${s.to.state} after ${secs(s.done_ms!)} (${kwOf(s.from)} -> ${kwOf(s.to)}${m})`;
  return `${took}, but after ${secs(ms)} it reads ${s.to.state}, ${kwOf(s.to)}${m}, setting ${s.to.setting}${s.to.fault ? ` (${s.to.fault})` : ''}`;
}

async function switchOne(ctx: DoctorContext, m: MinerConfig): Promise<CheckResult> {
  const r = timer('switch', m.id);
  const d = ctx.miners.get(m.id);
  if (!d || !ctx.minersUp.has(m.id)) return r.skip(`not tried: it did not pass its miner and login checks`, 'fix those first');
  const { minerStopTimeoutMs: stopMs, minerWakeTimeoutMs: wakeMs } = ctx.opts;
  let st = d.status();
  // a miner on its way up or down is let settle first (as long as the step it is in may take)
  if (st.state === 'waking' || st.state === 'stopping') {
    const was = st.state;
    const w = await waitFor(ctx, d, (s) => s.state === 'hashing' || s.state === 'sleeping', was === 'waking' ? wakeMs : stopMs);
    st = w.status;
    if (!w.ok) {
      return r.fail(`${m.id}: not tried: it was ${was} and still reads ${st.state} after ${secs(was === 'waking' ? wakeMs : stopMs)}`,
        'run the doctor again once the miner has settled (its own status page shows it); a miner that stays waking does not reach its hashrate: its pools, its hashboards', { found: reading(st) });
    }
  }
  if (st.state !== 'hashing' && st.state !== 'sleeping') {
    return r.fail(`${m.id}: not tried: it reads ${st.state}${st.fault ? ` (${st.fault})` : ''}`, 'see its miner check; run the doctor again', { found: reading(st) });
  }
  const found = { state: st.state, setting: st.setting };
  const wasOn = st.state === 'hashing';
  // a hashing miner wakes straight back at its own setting; a sleeping one at its highest
  const wakeAt = wasOn ? found.setting : d.settings.max;
  const stop = () => step(ctx, d, 'stop', () => d.stop(), asleep, stopMs);
  const wake = () => step(ctx, d, `wake at setting ${wakeAt}`, () => d.set(wakeAt), hashingAt(wakeAt), wakeMs);
  const steps: Step[] = [await (wasOn ? stop() : wake())];
  if (steps[0].ok && !ctx.opts.signal?.aborted) steps.push(await (wasOn ? wake() : stop()));

  // whatever happened, back as it was found
  const left = await leaveAsFound(ctx, d, wasOn, found.setting);
  const aborted = ctx.opts.signal?.aborted ?? false;
  const data = { found: { state: found.state, setting: found.setting, kw: reading(st).kw }, steps, left_as_found: left.ok, end: reading(left.status), poll_ms: Math.min(m.poll_ms, ctx.opts.minerPollMs) };
  const story = steps.map((s) => describeStep(s, s.what === 'stop' ? stopMs : wakeMs)).join('; ');
  const as = `${found.state}${wasOn ? ` at setting ${found.setting}` : ''}`;
  const end = left.ok ? `left ${as} as found`
    : left.sent ? `${wasOn ? 'wake' : 'stop'} sent to leave it ${as} as found (not waited for)`
      : `NOT left as found: it reads ${left.status.state}, setting ${left.status.setting}${left.error ? ` (${left.error})` : ''}`;
  const detail = `${m.id}: ${story}; ${end}`;
  const restoreHint = left.ok ? '' : ` It was ${as}: if it does not get there, ${wasOn ? 'wake' : 'stop'} it from its web page, or let the agent take it over.`;
  if (aborted) return r.fail(`${m.id}: interrupted; ${end}`, `run the doctor again.${restoreHint}`, data);
  const failed = steps.find((s) => !s.ok);
  if (!failed) {
    if (!left.ok) return r.fail(detail, `it slept and woke, but did not come back as it was.${restoreHint}`, data);
    return r.pass(detail, data);
  }
  return r.fail(detail, `${stepHint(m, failed, stopMs, wakeMs)}${restoreHint}`, data);
}

function stepHint(m: MinerConfig, s: Step, stopMs: number, wakeMs: number): string {
  const isStop = s.what === 'stop';
  if (s.error !== undefined) {
    if (REFUSED.test(s.error)) return 'the miner refused the command\'s credentials although it took them for reading: see its login check, and whether its password was changed meanwhile';
    return `the miner did not take the ${isStop ? 'stop' : 'wake'} (see the error); its readings answer, so its firmware refuses the command: update the firmware, or send the agent log named at the end with this output`;
  }
  if (isStop) {
    return `its API took the stop, but its readings do not show it asleep within ${secs(stopMs)}: look at the miner's own status page; firmware that accepts sleep and ignores it needs an update (the agent log says more)`;
  }
  return `its API took the wake, but it does not hash at that setting within ${secs(wakeMs)}: can it reach its pools? its hashboards? ` +
    `look at its own status page (stock firmware can take minutes to come up${m.driver === 'avalon' ? '; an Avalon re-initialises its boards on every wake' : ''})`;
}

/**
 * Put a miner back as the doctor found it: hashing at `setting`, or asleep. Waits (within the
 * wake or stop bound) for the readings to show it; on an abort the command is sent and not waited for.
 */
async function leaveAsFound(ctx: DoctorContext, d: NetworkMiner, wasOn: boolean, setting: number): Promise<{ ok: boolean; sent?: boolean; status: MinerStatus; error?: string }> {
  const as = wasOn ? hashingAt(setting) : asleep;
  const st = d.status();
  if (as(st)) return { ok: true, status: st };
  // on its way there already (a wake sent that did not show within its bound): not waited for twice
  const heading = wasOn ? st.on && st.setting === setting : !st.on;
  if (heading) return { ok: false, status: st, error: `on its way: ${wasOn ? 'woken' : 'stopped'}, not there yet` };
  try {
    await (wasOn ? d.set(setting) : d.stop());
  } catch (e) {
    return { ok: false, status: d.status(), error: (e as Error).message };
  }
  // the reading just after a command can be the one from before it (a miner caught mid-stop still shows its hashrate)
  if (ctx.opts.signal?.aborted) return { ok: false, sent: true, status: d.status() };
  const w = await waitFor(ctx, d, as, wasOn ? ctx.opts.minerWakeTimeoutMs : ctx.opts.minerStopTimeoutMs, 2 * ctx.opts.minerPollMs);
  return { ok: w.ok, status: w.status };
}
