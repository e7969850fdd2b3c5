/**
 * Uplink protocol v1 (DESIGN.md §4, a contract): the frames between the agent and the site
 * controller, and the validation of everything the controller sends. Every frame is one JSON
 * object with a `type`; unknown fields are ignored; unknown types and invalid commands are
 * answered with `ack ok:false` and never acted on. The JSON Schemas in schemas/ describe the
 * same frames for other implementations (and the tests check the two agree).
 */

export const PROTOCOL_VERSION = 1;

export type SiteState = 'running' | 'curtailed' | 'tripped' | 'ramping' | 'fault';
export type ControlMode = 'surplus' | 'setpoint' | 'heat' | 'off';
/**
 * Additions to the contract's kinds: `ledger` (a signed surplus-ledger record) and `settled`
 * (after a trip with network miners: their readings and the meter show the power gone)
 */
export type EventKind = 'trip' | 'release' | 'fault' | 'recover' | 'ledger' | 'settled';
/**
 * `fan-failure`, `io-lost`, `scada` (the SCADA curtail coil, DESIGN §8) and `openadr` (an
 * OpenADR 3 curtailment, §9) are additions to the contract's sources
 */
export type TripSource = 'command' | 'relay' | 'underfrequency' | 'meter-lost' | 'overtemp' | 'fan-failure' | 'io-lost' | 'scada' | 'openadr';

// ---- agent -> controller -------------------------------------------------------------------

export interface HelloFrame {
  type: 'hello';
  v: 1;
  agent: string;
  version: string;
  /** UUID of this process's boot, so the controller can tell a restart from a reconnect */
  boot: string;
}

export interface BoardReport {
  id: string;
  on: boolean;
  mhz: number;
  kw: number;
  temp_c: number;
}

export interface FanReport {
  id: string;
  /** PWM duty 0..1 */
  duty: number;
  rpm: number;
}

/** What the agent hands to `Uplink.telemetry()`; the uplink adds type, seq and ts. */
export interface TelemetryBody {
  state: SiteState;
  mode: ControlMode;
  /** kw: meter total active power, positive = import */
  grid: { hz: number; kw: number };
  miners: { kw: number; target_kw: number };
  boards: BoardReport[];
  fans: FanReport[];
  // additions are allowed (the controller ignores unknown fields); no index signature here so
  // that the agent's own telemetry interface, with its extra fields, is assignable as it is
}

export interface TelemetryFrame extends TelemetryBody {
  type: 'telemetry';
  seq: number;
  ts: string;
}

/** What the agent hands to `Uplink.event()`. Trips carry `latency_ms` (signal to all boards off). */
export interface EventBody {
  kind: EventKind;
  source: TripSource | string;
  latency_ms?: number;
  [extra: string]: unknown;
}

export interface EventFrame extends EventBody {
  type: 'event';
  seq: number;
  ts: string;
}

export type AckFrame =
  | { type: 'ack'; id: string; ok: true }
  | { type: 'ack'; id: string; ok: false; error: string };

export type AgentFrame = HelloFrame | TelemetryFrame | EventFrame | AckFrame;

// ---- controller -> agent -------------------------------------------------------------------

export interface CurtailCommand {
  type: 'command';
  id: string;
  action: 'curtail';
}
export interface ReleaseCommand {
  type: 'command';
  id: string;
  action: 'release';
}
export interface SetPowerCommand {
  type: 'command';
  id: string;
  action: 'set_power';
  /** power cap for the miners (kW), >= 0 */
  kw: number;
  /** the cap lapses after this many seconds unless renewed */
  ttl_s: number;
}
export type Command = CurtailCommand | ReleaseCommand | SetPowerCommand;
export type CommandAction = Command['action'];

export interface ReceivedFrame {
  type: 'received';
  /** everything up to and including seq is stored by the controller */
  seq: number;
}

export type ControllerFrame = Command | ReceivedFrame;

export type ParseResult = { ok: true; cmd: ControllerFrame } | { ok: false; id?: string; error: string };

/** Limits that make a command "out of range". A cap longer than a day is a mistake, not a plan. */
export const LIMITS = {
  maxIdLength: 128,
  maxTtlS: 86_400,
  maxKw: 1_000_000,
} as const;

const ACTIONS: ReadonlySet<string> = new Set<CommandAction>(['curtail', 'release', 'set_power']);

/**
 * Validate one text frame from the controller. Never throws. On failure `id` is the command's
 * id when one could be read, so the caller can answer `ack ok:false` to it.
 */
export function parseCommand(text: string): ParseResult {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { ok: false, error: 'not JSON' };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { ok: false, error: 'not a JSON object' };
  const o = v as Record<string, unknown>;
  const id = readId(o.id);

  if (o.type === 'received') {
    if (!isNonNegInt(o.seq)) return { ok: false, id, error: 'received.seq must be a non-negative integer' };
    return { ok: true, cmd: { type: 'received', seq: o.seq } };
  }
  if (o.type !== 'command') {
    return { ok: false, id, error: typeof o.type === 'string' ? `unknown type "${clip(o.type)}"` : 'missing type' };
  }
  if (typeof o.id !== 'string' || o.id.length === 0 || o.id.length > LIMITS.maxIdLength) {
    return { ok: false, id, error: `command.id must be a string of 1..${LIMITS.maxIdLength} characters` };
  }
  if (typeof o.action !== 'string' || !ACTIONS.has(o.action)) {
    return { ok: false, id, error: typeof o.action === 'string' ? `unknown action "${clip(o.action)}"` : 'missing action' };
  }
  switch (o.action) {
    case 'curtail':
      return { ok: true, cmd: { type: 'command', id: o.id, action: 'curtail' } };
    case 'release':
      return { ok: true, cmd: { type: 'command', id: o.id, action: 'release' } };
    default: {
      const { kw, ttl_s: ttl } = o;
      if (typeof kw !== 'number' || !Number.isFinite(kw) || kw < 0 || kw > LIMITS.maxKw) {
        return { ok: false, id, error: `set_power.kw must be a finite number in 0..${LIMITS.maxKw}` };
      }
      if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl <= 0 || ttl > LIMITS.maxTtlS) {
        return { ok: false, id, error: `set_power.ttl_s must be a number > 0 and <= ${LIMITS.maxTtlS}` };
      }
      return { ok: true, cmd: { type: 'command', id: o.id, action: 'set_power', kw, ttl_s: ttl } };
    }
  }
}

function readId(id: unknown): string | undefined {
  if (typeof id === 'string' && id.length > 0) return id.slice(0, LIMITS.maxIdLength);
  if (typeof id === 'number' && Number.isFinite(id)) return String(id);
  return undefined;
}

function isNonNegInt(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

/** keep error texts short when echoing attacker-chosen strings */
function clip(s: string): string {
  return s.length > 32 ? `${s.slice(0, 32)}…` : s;
}

export function ackFrame(id: string, ok: boolean, error?: string): AckFrame {
  return ok ? { type: 'ack', id, ok: true } : { type: 'ack', id, ok: false, error: error ?? 'failed' };
}
