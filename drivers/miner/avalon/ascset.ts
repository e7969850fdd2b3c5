/**
 * The Avalon control commands, all `ascset` on device 0, and how to read their replies.
 *
 *  - `0,softoff,1:<unix s>` / `0,softon,1:<unix s>`: enter / leave the soft-off standby (hash boards
 *    off, control board up) once the miner's own clock reaches the timestamp. Answered with
 *    STATUS `I` and a message containing "success" (pyasic AvalonMiner.stop_mining/resume_mining,
 *    asic-rs avalon_a Pause/Resume; both stamp now + 5 s, which a trip cannot afford: the driver
 *    stamps the miner's own present second, see skew.ts).
 *  - `0,worklevel,set,<n>` (and `get`): the work level inside the work mode; the firmware bounds it
 *    and refuses changes while it calibrates. Answered "ASC 0 set OK" (STATUS `S`, code 119), as
 *    pyasic's set_power_limit and asic-rs check.
 *  - errors: STATUS `E` with code 120 "ASC 0 set failed: …", and cgminer's code 45 "Access denied
 *    to 'ascset' command" when the API does not give this host write access (cgminer API-README:
 *    privileged commands need W access in --api-allow).
 * Not used: `workmode,set` (takes effect only after a reboot, Canaan's Mini 3 note) and
 * `hashpower,0` (A10 only, and it needs a reboot to come back: A10 manual §2.6).
 */
export interface ReplyStatus {
  status: string;
  code?: number;
  msg: string;
  /** the miner's clock (s): Unix time on current firmware, seconds since boot on old A10 firmware */
  when?: number;
}

export const ACCESS_DENIED = 45;

export function statusOf(reply: Record<string, unknown>): ReplyStatus | undefined {
  const s = Array.isArray(reply.STATUS) ? reply.STATUS[0] : reply.STATUS;
  if (!s || typeof s !== 'object') return undefined;
  const o = s as Record<string, unknown>;
  if (typeof o.STATUS !== 'string') return undefined;
  return {
    status: o.STATUS,
    code: typeof o.Code === 'number' ? o.Code : undefined,
    msg: typeof o.Msg === 'string' ? o.Msg : '',
    when: typeof o.When === 'number' && Number.isFinite(o.When) ? o.When : undefined,
  };
}

/** why a reply is not a usable answer (no cgminer STATUS, or STATUS E/F); undefined if it is */
export function replyError(reply: Record<string, unknown>): string | undefined {
  const st = statusOf(reply);
  if (!st) return 'reply has no cgminer STATUS';
  if (st.status === 'E' || st.status === 'F') {
    if (st.code === ACCESS_DENIED) return `access denied (${st.msg || 'code 45'}): the miner's API does not give this host write access`;
    return st.msg || `STATUS ${st.status}${st.code === undefined ? '' : ` code ${st.code}`}`;
  }
  return undefined;
}

export type SoftPower = 'softoff' | 'softon';

export function softPowerParam(kind: SoftPower, stampS: number): string {
  return `0,${kind},1:${Math.trunc(stampS)}`;
}

export function workLevelParam(level: number): string {
  return `0,worklevel,set,${Math.trunc(level)}`;
}

export type Accepted = { ok: true; msg: string } | { ok: false; why: string };

/** Did the firmware take this ascset? */
export function ascsetAccepted(reply: Record<string, unknown>, what: SoftPower | 'worklevel'): Accepted {
  const bad = replyError(reply);
  if (bad) return { ok: false, why: bad };
  const st = statusOf(reply) as ReplyStatus;
  if (/fail|error|invalid|unknown/i.test(st.msg)) return { ok: false, why: st.msg };
  if (what === 'worklevel') return st.status === 'S' || st.status === 'I' ? { ok: true, msg: st.msg } : { ok: false, why: `STATUS ${st.status}: ${st.msg}` };
  return /success/i.test(st.msg) ? { ok: true, msg: st.msg } : { ok: false, why: `no "success" in ${JSON.stringify(st.msg)}` };
}

/** `worklevel N` (a `worklevel,get` or `work_mode_lvl,get` info message) → N */
export function levelOfMessage(msg: string): number | undefined {
  const m = /worklevel\D*?(-?\d+)/i.exec(msg);
  return m ? Number(m[1]) : undefined;
}
