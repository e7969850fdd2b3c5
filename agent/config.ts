import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { ErrorCode, HashflexError } from './errors';
import { hashboardRangeProblems, hashboardTuning } from '../drivers/hashboard/config';
import { ledgerSchema } from './ledger/config';
import { readSecret, secretFile, secretFileWarnings, secretInline, secretInlineOf, type SecretSource } from './security';
import { isMqttUrl } from './uplink/mqtt-transport';
import { cidrProblem } from './grid/scada/allow';
import { openAdrSchema } from './grid/openadr/settings';
import { isMinerDriver, minerDrivers } from '../drivers/miner';
import { issueProblems } from './config-messages';

/**
 * The config file (YAML; JSON is valid YAML), validated once at start-up. Every problem is
 * reported as `path.to.key: what is wrong`, all at once, and a bad config never opens a port.
 * Units are in the key names (_ms, _kw, _hz, _c); defaults and ranges live here and in the README.
 */
const hostPort = z.string().refine((s) => {
  const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(s);
  return m !== null && Number(m[2]) >= 1 && Number(m[2]) <= 65535;
}, 'expected "HOST:PORT" with a port 1..65535');
const pin = z.number().int().min(0).max(127);
const analogPin = z.string().regex(/^A\d{1,2}$/, 'expected an analog pin like "A0"');
const id = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'ids are 1-64 letters, digits, "_", "." or "-"');

/** a serial device: a local port, or raw bytes over TCP (ser2net, a serial device server) */
const serial = z.union([
  z.object({ path: z.string().min(1), baud: z.number().int().min(300).max(4_000_000).default(115200) }).strict(),
  z.object({ tcp: hostPort }).strict(),
], { errorMap: () => ({ message: 'expected { path, baud } or { tcp: "HOST:PORT" }' }) });

/** a token inline or in a file: the one secret rule (security.ts, README "Secrets") */
const secret = {
  token: secretInline.optional(),
  token_file: secretFile.optional(),
};

/** a meter's serial line: the SDM630 leaves the factory at 9600 baud */
const meterSerial = z.union([
  z.object({ path: z.string().min(1), baud: z.number().int().min(300).max(4_000_000).default(9600) }).strict(),
  z.object({ tcp: hostPort }).strict(),
], { errorMap: () => ({ message: 'expected { path, baud } or { tcp: "HOST:PORT" }' }) });

const meter = z.object({
  model: z.enum(['sdm630', 'sunspec']).default('sdm630'),
  tcp: hostPort.optional(),
  serial: meterSerial.optional(),
  unit: z.number().int().min(0).max(255).default(1),
  poll_ms: z.number().int().min(10).max(60_000).default(50),
  stale_ms: z.number().int().min(50).max(600_000).default(1000),
  /** identical readings for this long = stale, reason frozen (well above any real meter's register refresh) */
  frozen_ms: z.number().int().min(50).max(3_600_000).default(10_000),
  timeout_ms: z.number().int().min(10).max(10_000).default(250),
  counters_ms: z.number().int().min(0).max(3_600_000).default(5000),
  backoff_max_ms: z.number().int().min(10).max(600_000).default(5000),
  allow_repeats: z.boolean().default(false),
  /** what losing the meter means: trip the site, or hold the last cap (state `fault`) */
  on_lost: z.enum(['trip', 'hold']).default('trip'),
  /** after a loss, this long of unbroken fresh samples before meter-lost ends (doubled per loss soon after a release) */
  release_ms: z.number().int().min(0).max(600_000).default(5000),
}).strict()
  .refine((m) => (m.tcp === undefined) !== (m.serial === undefined), { message: 'give exactly one of tcp or serial' })
  .refine((m) => m.serial === undefined || m.unit >= 1 && m.unit <= 247, { message: 'unit must be 1..247 on a serial line', path: ['unit'] })
  .refine((m) => m.backoff_max_ms >= m.poll_ms, { message: 'must not be below poll_ms', path: ['backoff_max_ms'] });

const board = z.object({
  id,
  model: z.enum(['bm1366', 'bm1368', 'bm1370']).default('bm1366'),
  serial,
  chips: z.number().int().min(1).max(256).default(4),
  enable_pin: pin.optional(),
  ...hashboardTuning, // min_mhz, max_mhz, ramp and timing keys: see the README's Hashboards section
}).strict();

const fan = z.object({ id, pwm_pin: pin, tach_pin: analogPin, tach_full_scale_rpm: z.number().min(100).max(100_000).optional() }).strict();
const thermistor = z.object({
  id, pin: analogPin, board: id.optional(),
  // NTC curve: 1/T = 1/T0 + ln(R/R0)/B; defaults are the common 10 kΩ B3950 part
  beta: z.number().min(1000).max(10_000).optional(),
  r0_ohm: z.number().positive().optional(),
  t0_c: z.number().min(-50).max(150).optional(),
  series_ohm: z.number().positive().optional(),
}).strict();

/** the Firmata board: StandardFirmata talks at 57600 baud */
const ioLink = {
  sample_ms: z.number().int().min(10).max(10_000).default(100),
  watchdog_ms: z.number().int().min(100).max(60_000).default(1500),
  /** losing the I/O board trips the site (boards stopped over their serial links), or only reports a fault */
  on_fault: z.enum(['trip', 'hold']).default('trip'),
};
const io = z.union([
  z.object({ path: z.string().min(1), baud: z.number().int().min(300).max(4_000_000).default(57600), ...ioLink }).strict(),
  z.object({ tcp: hostPort, ...ioLink }).strict(),
], { errorMap: () => ({ message: 'expected { path, baud } or { tcp: "HOST:PORT" }' }) });

const point = z.tuple([z.number().min(-50).max(150), z.number().min(0).max(1)]);
const fanCurve = z.object({
  points: z.array(point).min(1).optional(),
  min_duty: z.number().min(0).max(1).optional(),
  fall_per_s: z.number().positive().max(10).optional(),
  failure: z.object({ duty: z.number().min(0).max(1).optional(), rpm: z.number().min(0).optional(), after_ms: z.number().int().min(0).optional() }).strict().optional(),
}).strict();

const grid = z.object({
  nominal_hz: z.union([z.literal(50), z.literal(60)]).default(60),
  underfrequency: z.object({
    trip_hz: z.number().min(40).max(70).optional(),
    sustain_ms: z.number().int().min(0).max(60_000).default(100),
    release: z.enum(['manual', 'auto']).default('manual'),
    /** with release: auto, how long frequency must stay back above trip_hz + hysteresis */
    hold_s: z.number().min(0).max(3600).default(60),
  }).strict().default({}),
  relay: z.object({ pin, active: z.enum(['low', 'high']).default('low'), release_ms: z.number().int().min(0).max(10_000).optional() }).strict().optional(),
}).strict().default({});

const control = z.object({
  mode: z.enum(['surplus', 'setpoint', 'heat', 'off']).default('surplus'),
  max_kw: z.number().min(0).max(100_000).default(12),
  setpoint_kw: z.number().min(0).max(100_000).default(6),
  margin_kw: z.number().min(0).max(1000).default(0.2),
  /** delay between boards when ramping back up after a release (shed at once, add slowly) */
  stagger_ms: z.number().int().min(0).max(600_000).default(2000),
  /** a board is switched on only after the target has allowed it this long (add slowly) */
  board_on_delay_ms: z.number().int().min(0).max(3_600_000).default(30_000),
  /** how long a board its driver found faulted is held out before control tries it again */
  board_retry_ms: z.number().int().min(1000).max(3_600_000).default(30_000),
  /** board temperature that starts throttling, and the one that trips */
  throttle_c: z.number().min(20).max(150).default(80),
  trip_c: z.number().min(20).max(150).default(95),
  /** a network miner switched on by control stays on (at its lowest setting at least) this long; switched off, stays off this long */
  miner_min_on_ms: z.number().int().min(0).max(3_600_000).default(60_000),
  miner_min_off_ms: z.number().int().min(0).max(3_600_000).default(120_000),
  /** a temperature sensor that stops reading: its boards at their lowest frequency, or trip the site (overtemp) */
  on_sensor_lost: z.enum(['throttle', 'trip']).default('trip'),
  heat: z.object({ target_c: z.number().min(0).max(120).default(60), sensor: id.optional() }).strict().default({}),
}).strict().default({});

/**
 * The controller link: WebSocket (ws://, wss://) or MQTT 5 on a broker (mqtt://, mqtts://,
 * mqtt+ws://, mqtt+wss://). The scheme alone picks the transport (agent/uplink/client.ts).
 */
const UPLINK_SCHEMES = /^(wss?|mqtts?|mqtt\+wss?):\/\/[^\s]+$/;
const uplinkUrl = z.string()
  .regex(UPLINK_SCHEMES, 'expected ws://, wss://, mqtt://, mqtts://, mqtt+ws:// or mqtt+wss:// and HOST[:PORT][/PATH]')
  .superRefine((s, ctx) => {
    if (!UPLINK_SCHEMES.test(s)) return; // reported above
    let u: URL;
    try {
      u = new URL(s.replace(/^mqtt\+/, ''));
    } catch {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'not a valid url' });
      return;
    }
    if (!u.hostname) ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'the url needs a host' });
    // the url is logged (connect, start): a password in it would end up in the log
    if (u.username || u.password) ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must not carry credentials: use uplink.username and uplink.token or token_file' });
  });
/** an MQTT topic level: what mqtt-transport.ts accepts for the site and agent levels */
const TOPIC_PREFIX = /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/;

const uplink = z.object({
  url: uplinkUrl,
  ...secret,
  /** PEM CA bundle for wss:// or mqtts:// / mqtt+wss:// with a private CA */
  ca_file: z.string().min(1).optional(),
  /** MQTT only: the site id (second topic level); required for an MQTT url */
  site: id.optional(),
  /** MQTT only: broker user name; default agent.id when a token (the broker password) is given */
  username: z.string().min(1).max(256).optional(),
  /** MQTT only: client id, unique on the broker; default hashflex-<site>-<agent.id> */
  client_id: z.string().min(1).max(128).optional(),
  /** MQTT only: first topic level(s) */
  topic_prefix: z.string().max(128, 'at most 128 characters')
    .regex(TOPIC_PREFIX, 'expected levels of letters, digits, "_", "." or "-" separated by "/" (no "+", "#", empty or leading/trailing levels)')
    .default('hashflex'),
  telemetry_ms: z.number().int().min(100).max(60_000).default(1000),
  backoff_min_ms: z.number().int().min(100).max(60_000).default(500),
  backoff_max_ms: z.number().int().min(100).max(600_000).default(30_000),
}).strict();

const local = z.object({ listen: hostPort.default('127.0.0.1:8080'), ...secret }).strict();

/** the SCADA Modbus TCP server for the aggregator's RTU (DESIGN.md §8; agent/grid/scada) */
const cidr = z.string().superRefine((s, ctx) => {
  const bad = cidrProblem(s);
  if (bad) ctx.addIssue({ code: z.ZodIssueCode.custom, message: bad });
});
const scada = z.object({
  listen: hostPort,
  unit: z.number().int().min(0).max(255).default(1),
  /** clients served; default loopback only (SCADA_DEFAULT_ALLOW), and required when listen is not a loopback address */
  allow: z.array(cidr).min(1, 'at least one address or CIDR').optional(),
  write: z.boolean().default(true),
  /** the lease of a cap written while register 102 holds 0 (s), as set_power's ttl_s */
  cap_ttl_s: z.number().int().min(1).max(86_400).default(60),
}).strict();

const port = z.number().int().min(1).max(65535);
/** a stock or aftermarket miner on the LAN (DESIGN.md §7; drivers/miner/) */
const miner = z.object({
  id,
  host: z.string().min(1).max(253).regex(/^[A-Za-z0-9.:-]+$/, 'expected an address or a host name'),
  driver: z.enum(['antminer', 'whatsminer', 'avalon', 'luxos', 'braiins', 'vnish', 'auto']).default('auto'),
  /** only to override the firmware's own: api 4028, web 80, v3 4433, grpc 50051 */
  ports: z.object({ api: port.optional(), web: port.optional(), v3: port.optional(), grpc: port.optional() }).strict().default({}),
  username: z.string().min(1).max(64).optional(),
  /** the firmware's own password (its factory default where absent): the secret line rule, no minimum */
  password: secretInlineOf(1).optional(),
  password_file: secretFile.optional(),
  /** nameplate kW, for firmware that reports no power (stock Antminer) */
  rated_kw: z.number().positive().max(100).optional(),
  poll_ms: z.number().int().min(500).max(600_000).default(5000),
  timeout_ms: z.number().int().min(100).max(60_000).default(2000),
}).strict();

export const configSchema = z.object({
  agent: z.object({ id }).strict(),
  meter,
  boards: z.array(board).max(64).default([]),
  miners: z.array(miner).max(4096).default([]),
  io: io.optional(),
  fans: z.array(fan).default([]),
  fan_curve: fanCurve.optional(),
  thermistors: z.array(thermistor).default([]),
  grid,
  control,
  uplink: uplink.optional(),
  local: local.optional(),
  scada: scada.optional(),
  /** the OpenADR 3 VEN (DESIGN.md §9; agent/grid/openadr) */
  openadr: openAdrSchema.optional(),
  ledger: ledgerSchema,
  storage: z.object({
    dir: z.string().min(1).default('./hashflex-data'),
    journal_max_mb: z.number().min(1).max(4096).default(64),
    journal_sync: z.enum(['async', 'full', 'normal']).default('async'),
    journal_checkpoint: z.enum(['inline', 'worker']).default('inline'),
  }).strict().default({}),
}).strict().superRefine((c, ctx) => {
  const issue = (p: (string | number)[], message: string) => ctx.addIssue({ code: z.ZodIssueCode.custom, path: p, message });
  const seen = new Set<string>();
  if (!c.boards.length && !c.miners.length) issue(['boards'], NO_LOADS);
  c.boards.forEach((b, i) => {
    if (seen.has(b.id)) issue(['boards', i, 'id'], `duplicate board id "${b.id}"`);
    seen.add(b.id);
    for (const [key, message] of hashboardRangeProblems(b)) issue(['boards', i, key], message);
  });
  c.miners.forEach((m, i) => {
    if (seen.has(m.id)) issue(['miners', i, 'id'], `duplicate id "${m.id}" (ids are unique among boards and miners)`);
    seen.add(m.id);
    if (m.driver !== 'auto' && !isMinerDriver(m.driver)) issue(['miners', i, 'driver'], `no "${m.driver}" driver in this version (it drives ${minerDrivers().join(', ')}, or auto)`);
  });
  const pins = new Map<number, string>();
  const claim = (p: number, where: (string | number)[]) => {
    const other = pins.get(p);
    if (other) issue(where, `pin ${p} is already used by ${other}`);
    else pins.set(p, formatPath(where));
  };
  c.boards.forEach((b, i) => { if (b.enable_pin !== undefined) claim(b.enable_pin, ['boards', i, 'enable_pin']); });
  c.fans.forEach((f, i) => claim(f.pwm_pin, ['fans', i, 'pwm_pin']));
  if (c.grid.relay) claim(c.grid.relay.pin, ['grid', 'relay', 'pin']);
  if (!c.io) {
    const needsIo = c.boards.some((b) => b.enable_pin !== undefined) || c.fans.length > 0 || c.grid.relay || c.thermistors.length > 0;
    if (needsIo) issue(['io'], 'enable pins, fans, thermistors and the relay need an io board');
  }
  const tripHz = c.grid.underfrequency.trip_hz;
  if (tripHz !== undefined && tripHz >= c.grid.nominal_hz) issue(['grid', 'underfrequency', 'trip_hz'], `must be below nominal_hz (${c.grid.nominal_hz})`);
  if (c.control.throttle_c >= c.control.trip_c) issue(['control', 'throttle_c'], 'must be below control.trip_c');
  for (const key of ['uplink', 'local'] as const) {
    const s = c[key];
    if (s?.token !== undefined && s.token_file !== undefined) issue([key, 'token'], 'give token or token_file, not both');
  }
  if (c.uplink && c.uplink.backoff_min_ms > c.uplink.backoff_max_ms) issue(['uplink', 'backoff_max_ms'], 'must not be below backoff_min_ms');
  if (c.uplink && isMqttUrl(c.uplink.url) && c.uplink.site === undefined) {
    issue(['uplink', 'site'], 'is required when uplink.url is an MQTT url (the site id, second topic level)');
  }
  // (a listen that is not HOST:PORT is reported by itself)
  if (c.scada && c.scada.allow === undefined && /:\d+$/.test(c.scada.listen) && !/^(127\.|\[::1\]|localhost:)/.test(c.scada.listen)) {
    issue(['scada', 'allow'], 'required unless scada.listen is a loopback address: list the RTU\'s addresses (e.g. ["10.0.4.20/32"])');
  }
  if (c.local && !c.local.token && !c.local.token_file && !/^(127\.|\[::1\]|localhost:)/.test(c.local.listen)) {
    issue(['local', 'token'], 'required unless local.listen is a loopback address');
  }
});

export type ConfigInput = z.input<typeof configSchema>;
type Parsed = z.output<typeof configSchema>;

/** The validated config, with defaults filled and secrets read. */
export interface Config extends Omit<Parsed, 'grid'> {
  grid: Parsed['grid'] & { underfrequency: Parsed['grid']['underfrequency'] & { trip_hz: number } };
  /** the file it came from, for relative paths */
  source?: string;
}

const NO_LOADS = 'at least one board or miner';

/** a document with neither boards nor miners (each absent or an empty list) */
function noLoads(doc: unknown): boolean {
  const d = (doc ?? {}) as Record<string, unknown>;
  const empty = (v: unknown) => v === undefined || (Array.isArray(v) && v.length === 0);
  return typeof d === 'object' && empty(d.boards) && empty(d.miners);
}

export function formatPath(p: (string | number)[]): string {
  return p.reduce<string>((s, k) => (typeof k === 'number' ? `${s}[${k}]` : s ? `${s}.${k}` : k), '') || '(top level)';
}

/** Validate a parsed document. Throws HashflexError(ConfigInvalid) whose `problems` lists every issue. */
export function validateConfig(doc: unknown, source?: string): Config {
  const r = configSchema.safeParse(doc ?? {});
  // what is wrong and what is allowed there (config-messages.ts): one line per problem
  const problems = r.success ? [] : r.error.issues.flatMap((i) => issueProblems(i, configSchema, doc).map((p) => `${formatPath(p.path)}: ${p.message}`));
  // zod skips the whole-config checks once a key fails: this one is worth saying at once
  if (!r.success && noLoads(doc) && !problems.includes(`boards: ${NO_LOADS}`)) problems.push(`boards: ${NO_LOADS}`);
  if (!r.success) throw new ConfigError(problems);
  const c = r.data;
  const base = source ? path.dirname(source) : process.cwd();
  for (const { source: src, set } of secrets(c)) {
    const r = readSecret(src, base);
    if (r.problem) problems.push(r.problem);
    else set(r.value);
  }
  if (c.uplink?.ca_file) {
    c.uplink.ca_file = path.resolve(base, c.uplink.ca_file);
    if (!fs.existsSync(c.uplink.ca_file)) problems.push(`uplink.ca_file: ${c.uplink.ca_file} does not exist`);
  }
  if (c.openadr?.ca_file) {
    c.openadr.ca_file = path.resolve(base, c.openadr.ca_file);
    if (!fs.existsSync(c.openadr.ca_file)) problems.push(`openadr.ca_file: ${c.openadr.ca_file} does not exist`);
  }
  if (problems.length) throw new ConfigError(problems);
  c.storage.dir = path.resolve(base, c.storage.dir);
  const uf = c.grid.underfrequency;
  // 59.7 Hz on a 60 Hz grid is where ERCOT load-resource relays trip; 49.7 Hz by analogy at 50 Hz
  const trip_hz = uf.trip_hz ?? c.grid.nominal_hz - 0.3;
  return { ...c, grid: { ...c.grid, underfrequency: { ...uf, trip_hz } }, source };
}

/**
 * Things a valid config may still get wrong, one line each, never holding a secret: secrets in
 * files other local users can read or write (security.ts; only for a config loaded from a file),
 * and MQTT-only uplink keys beside a WebSocket url. `hashflex config check` prints them and the
 * agent logs them at start; neither refuses the config for them.
 */
export function configWarnings(config: Config): string[] {
  const out = config.source ? secretFileWarnings(config.source, secrets(config).map((s) => s.source)) : [];
  const u = config.uplink;
  if (u && !isMqttUrl(u.url)) {
    const set: string[] = (['site', 'username', 'client_id'] as const).filter((k) => u[k] !== undefined);
    if (u.topic_prefix !== 'hashflex') set.push('topic_prefix');
    for (const k of set) out.push(`uplink.${k}: ignored: only an MQTT uplink.url (mqtt://, mqtts://, mqtt+ws://, mqtt+wss://) uses it`);
  }
  const scadaPort = config.scada ? Number(config.scada.listen.split(':').pop()) : 0;
  if (scadaPort > 0 && scadaPort < 1024) {
    out.push(`scada.listen: port ${scadaPort} needs root or CAP_NET_BIND_SERVICE, which the packaged service does not have: listen on 1502 and point the RTU there, or see the README's SCADA section`);
  }
  if (u?.ca_file && /^(ws|mqtt|mqtt\+ws):\/\//.test(u.url)) {
    out.push(`uplink.ca_file: ignored: ${u.url.split(':')[0]}:// is not TLS (use ${u.url.startsWith('ws:') ? 'wss' : u.url.startsWith('mqtt+ws:') ? 'mqtt+wss' : 'mqtts'}://)`);
  }
  return out;
}

/**
 * Every secret the config holds, each read and checked by the one rule (security.ts): a new
 * secret key (miners[].password_file, openadr.client_secret_file) is one more entry here.
 */
function secrets(c: Pick<Parsed, 'uplink' | 'local' | 'miners' | 'openadr'>): { source: SecretSource; set(value: string | undefined): void }[] {
  const tokens = (['uplink', 'local'] as const).flatMap((k) => {
    const s = c[k];
    return s ? [{ source: { key: `${k}.token`, inline: s.token, file: s.token_file }, set: (v: string | undefined) => { s.token = v; } }] : [];
  });
  const passwords = c.miners.map((m, i) => ({
    source: { key: `miners[${i}].password`, inline: m.password, file: m.password_file, minLength: 1 },
    set: (v: string | undefined) => { m.password = v; },
  }));
  const o = c.openadr;
  const vtn = o ? [{
    source: { key: 'openadr.client_secret', inline: o.client_secret, file: o.client_secret_file, minLength: 1 },
    set: (v: string | undefined) => { o.client_secret = v; },
  }] : [];
  return [...tokens, ...passwords, ...vtn];
}

export function loadConfig(file: string): Config {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError([`(file): cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? e})`]);
  }
  const lines = new YAML.LineCounter();
  const doc = YAML.parseDocument(text, { prettyErrors: true, lineCounter: lines });
  if (doc.errors.length) {
    throw new ConfigError(doc.errors.map((e) => `(yaml) line ${e.linePos?.[0].line ?? '?'} column ${e.linePos?.[0].col ?? '?'}: ${e.message.split('\n')[0]}`));
  }
  const keys = collectionKeyProblems(doc, lines);
  if (keys.length) throw new ConfigError(keys);
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 }); // bounded: a "billion laughs" file is refused, not expanded
  } catch (e) {
    throw new ConfigError([`(yaml): ${(e as Error).message.split('\n')[0]}`]);
  }
  return validateConfig(data, path.resolve(file));
}

/**
 * A list or map used as a key (`? [a, b]: x`, `{ a: 1 }: x`) names no config key. toJS would
 * turn it into a string key (refused later as unknown) and print YAML's "Keys with collection
 * values will be stringified" warning on stderr, where the agent's log goes: refuse it here.
 */
function collectionKeyProblems(doc: YAML.Document, lines: YAML.LineCounter): string[] {
  const out: string[] = [];
  YAML.visit(doc, {
    Pair(_, pair) {
      const key = YAML.isAlias(pair.key) ? pair.key.resolve(doc) : pair.key;
      if (!YAML.isCollection(key)) return;
      const at = YAML.isNode(pair.key) && pair.key.range ? lines.linePos(pair.key.range[0]) : undefined;
      out.push(`(yaml) line ${at?.line ?? '?'} column ${at?.col ?? '?'}: a key must be a name, not a list or map`);
    },
  });
  return out;
}

export class ConfigError extends HashflexError {
  constructor(readonly problems: string[]) {
    super(`invalid config:\n${problems.join('\n')}`, ErrorCode.ConfigInvalid);
  }
}
