import net from 'node:net';
import { allowList, SCADA_DEFAULT_ALLOW } from '../grid/scada/allow';
import { Exception } from '../grid/scada/codec';
import type { ScadaPort } from '../grid/scada/device';
import { MAP_VERSION } from '../grid/scada/map';
import { parseListen, ScadaServer } from '../grid/scada/server';
import { timer, type CheckResult, type DoctorContext } from './types';

/**
 * The SCADA server answers on its own address: the doctor binds `scada.listen` itself (the
 * agent service is stopped while it runs) with writes refused, connects to that address from
 * this board as an RTU would, and reads the map version (FC 03) and the same register as an
 * input register (FC 04). A bind that fails says why: the port taken, an address this board
 * does not have, or a port below 1024. No line when the config has no scada section.
 */
export async function checkScada(ctx: DoctorContext, timeoutMs = 3000): Promise<CheckResult[]> {
  const s = ctx.config.scada;
  // as fans: a site without the part has no line for it
  if (!s) return [];
  return [await check(s, timeoutMs)];
}

async function check(s: NonNullable<DoctorContext['config']['scada']>, timeoutMs: number): Promise<CheckResult> {
  const r = timer('scada');
  const { host, port } = parseListen(s.listen);
  // a wildcard listen is reached through loopback; otherwise through the address itself
  const probe = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  const allow = s.allow ?? [...SCADA_DEFAULT_ALLOW];
  const server = new ScadaServer({
    listen: s.listen, unit: s.unit, write: false, capTtlS: s.cap_ttl_s,
    // the doctor's own probe is served whatever allow says; whether allow has it is reported
    allow: [...allow, net.isIPv6(probe) ? `${probe}/128` : net.isIPv4(probe) ? `${probe}/32` : '127.0.0.1/32'],
  }, standIn);
  try {
    await server.listen();
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const hint = err.code === 'EADDRINUSE' ? `something already listens on port ${port}: stop the agent service (sudo systemctl stop hashflex) before the doctor, or pick another port`
      : err.code === 'EADDRNOTAVAIL' ? `${host} is not an address of this board (ip -br addr): use one it has, or 0.0.0.0`
        : err.code === 'EACCES' ? `port ${port} is below 1024: listen on 1502 (the packaged service may not bind low ports), or see the README's SCADA section`
          : 'check scada.listen';
    return r.fail(`cannot listen on ${s.listen} (${err.code ?? err.message})`, hint);
  }
  try {
    const regs = await readOver(probe, port, s.unit, timeoutMs);
    const data = { listen: s.listen, unit: s.unit, write: s.write, allow };
    if (regs.fc03 !== MAP_VERSION || regs.fc04 !== MAP_VERSION) {
      return r.fail(`${s.listen}: register 0 reads ${regs.fc03} (FC 03) / ${regs.fc04} (FC 04), not map version ${MAP_VERSION}`, 'a bug in the agent: report it with this output', data);
    }
    const allowed = allowList(allow).allows(probe) ? '' : `; note: scada.allow does not include ${probe}, so local tools (mbpoll on this board) are not served`;
    return r.pass(`${s.listen} answers Modbus TCP (unit ${s.unit}, map version ${MAP_VERSION}, writes ${s.write ? 'enabled' : 'refused'}); serves ${allow.join(', ')}${allowed}`, data);
  } catch (e) {
    return r.fail(`${s.listen}: bound, but no Modbus reply from ${probe}:${port} (${(e as Error).message})`, 'a firewall on this board (nftables, ufw) dropping local connections to the port, or the address routes elsewhere');
  } finally {
    await server.close();
  }
}

/** what the doctor's server reads: the map is all there is to check, no site runs */
const standIn: ScadaPort = {
  values: () => ({
    state: 0, trip_sources: 0, mode: 0, heartbeat_s: 0, grid_hz: Number.NaN, grid_kw: Number.NaN, miners_kw: Number.NaN, target_kw: Number.NaN,
    flexible_kw: Number.NaN, capacity_kw: Number.NaN, last_trip_latency_ms: Number.NaN, trips: 0, cap_kw: Number.NaN,
  }),
  curtailed: () => false,
  curtail: async () => [],
  endCurtail: () => {},
  setCap: () => {},
  clearCap: () => {},
};

/** register 0 by FC 03 and by FC 04, over one connection */
function readOver(host: string, port: number, unit: number, timeoutMs: number): Promise<{ fc03: number; fc04: number }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port });
    const t = setTimeout(() => { sock.destroy(); reject(new Error(`no answer in ${timeoutMs} ms`)); }, timeoutMs);
    const got: number[] = [];
    let buf = Buffer.alloc(0);
    sock.on('error', (e) => { clearTimeout(t); reject(e); });
    sock.on('connect', () => {
      for (const [tid, fn] of [[1, 3], [2, 4]]) sock.write(Buffer.from([0, tid, 0, 0, 0, 6, unit, fn, 0, 0, 0, 1]));
    });
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 9 && buf.length >= 6 + buf.readUInt16BE(4)) {
        const pdu = buf.subarray(7, 6 + buf.readUInt16BE(4));
        if (pdu[0] & 0x80) {
          clearTimeout(t);
          sock.destroy();
          return reject(new Error(`exception ${pdu[1]}${pdu[1] === Exception.GatewayTargetFailed ? ' (unit id)' : ''}`));
        }
        got[buf.readUInt16BE(0) - 1] = pdu.readUInt16BE(2);
        buf = buf.subarray(6 + buf.readUInt16BE(4));
      }
      if (got[0] !== undefined && got[1] !== undefined) {
        clearTimeout(t);
        sock.destroy();
        resolve({ fc03: got[0], fc04: got[1] });
      }
    });
  });
}
