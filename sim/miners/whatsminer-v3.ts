import { createHash } from 'node:crypto';
import net from 'node:net';
import type { SimWhatsminer } from './whatsminer';

/**
 * The simulated Whatsminer's API v3 on TCP 4433: 4-byte little-endian length + JSON, both ways,
 * any number of requests per connection. `get.*` need nothing; `set.*` need {ts, account, token}
 * with token = base64(SHA-256(cmd + password + salt + ts))[:8] and ts within v3WindowS of the
 * miner's clock, else code -4. Replies {"code","when","msg","desc"}.
 */
export interface V3Server {
  port: number;
  close(): Promise<void>;
}

const MAX_FRAME = 64 * 1024;

export function serveWhatsminerV3(sim: SimWhatsminer, port: number): Promise<V3Server> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buf = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 4) {
        const n = buf.readUInt32LE(0);
        if (n === 0 || n > MAX_FRAME) return socket.destroy();
        if (buf.length < 4 + n) return;
        const body = buf.subarray(4, 4 + n).toString('utf8');
        buf = buf.subarray(4 + n);
        if (sim.interceptRequest(socket)) return;
        const reply = Buffer.from(JSON.stringify(handle(sim, body, socket.remoteAddress ?? '')), 'utf8');
        const head = Buffer.alloc(4);
        head.writeUInt32LE(reply.length, 0);
        const frame = Buffer.concat([head, reply]);
        if (sim.spoilReply(socket, frame)) return;
        socket.write(frame);
      }
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, sim.host, () => {
      resolve({
        port: (server.address() as net.AddressInfo).port,
        close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
      });
    });
  });
}

function handle(sim: SimWhatsminer, body: string, client: string): Record<string, unknown> {
  const when = sim.when();
  const reply = (code: number, msg: unknown, desc: string) => ({ code, when, msg, desc });
  let req: Record<string, unknown>;
  try {
    req = JSON.parse(body) as Record<string, unknown>;
    if (!req || typeof req !== 'object') throw new Error('not an object');
  } catch {
    return reply(-3, 'invalid json', '');
  }
  const cmd = String(req.cmd ?? '');
  const secured = cmd.startsWith('set.');
  sim.noteRequest({ api: 'v3', cmd, secured, client });
  if (secured) {
    const password = sim.passwordFor(String(req.account ?? ''));
    const ts = Number(req.ts);
    const expected = password === undefined ? undefined : createHash('sha256').update(`${cmd}${password}${sim.v3Salt}${ts}`).digest('base64').slice(0, 8);
    if (expected === undefined || req.token !== expected || !(Math.abs(ts - when) <= sim.v3WindowS)) return reply(-4, 'token error', cmd);
    return setCommand(sim, cmd, req.param, reply);
  }
  const m = sim.machine;
  switch (cmd) {
    case 'get.device.info': {
      const parts: Record<string, unknown> = {
        network: { mac: 'C6:07:20:00:21:01', hostname: `WhatsMiner-${sim.id}`, ip: sim.host, proto: 'dhcp' },
        system: { api: '3.0.1', fwversion: sim.firmware, platform: 'H6OS', ledstatus: 'auto' },
        miner: { type: sim.model, working: sim.mining ? 'true' : 'false', 'miner-sn': `SIM${sim.id}`, 'power-limit-set': String(Math.round(m.spec.ratedKw * 1000)) },
        power: { fanspeed: 5000, vin: 230 },
        salt: sim.v3Salt,
      };
      if (req.param === undefined || req.param === null || req.param === '') {
        const { salt: _salt, ...info } = parts;
        return reply(0, info, cmd);
      }
      const p = String(req.param);
      if (!(p in parts)) return reply(-2, `invalid param: ${p}`, cmd);
      return reply(0, { [p]: parts[p] }, cmd);
    }
    case 'get.miner.status': {
      if (req.param === undefined || req.param === null || req.param === '') return reply(-3, 'param item is null', cmd);
      const out: Record<string, unknown> = {};
      for (const p of String(req.param).split('+')) {
        if (p === 'summary') {
          out.summary = {
            elapsed: 3600,
            'hash-realtime': m.ths,
            'hash-average': m.ths,
            'factory-hash': m.spec.ratedThs,
            'power-realtime': Math.round(m.kw * 1000),
            'power-5min': Math.round(m.kw * 1000),
            'power-limit': Math.round(m.spec.ratedKw * 1000),
            'chip-temp-max': Math.round((m.tempC + 12) * 10) / 10,
            'environment-temperature': 25,
          };
        } else if (p === 'pools') out.pools = [];
        else if (p === 'edevs') out.edevs = [];
        else return reply(-2, `invalid param: ${p}`, cmd);
      }
      return reply(0, out, cmd);
    }
    default:
      return reply(-2, 'invalid command', cmd);
  }
}

function setCommand(sim: SimWhatsminer, cmd: string, param: unknown, reply: (code: number, msg: unknown, desc: string) => Record<string, unknown>) {
  switch (cmd) {
    case 'set.miner.service':
      if (param === 'stop') sim.powerOff('set.miner.service stop');
      else if (param === 'start') sim.powerOn('set.miner.service start');
      else if (param !== 'restart') return reply(-1, `invalid param: ${String(param)}`, cmd);
      return reply(0, 'ok', cmd);
    case 'set.miner.power_percent': {
      let p: unknown = param;
      if (typeof p === 'string') {
        try { p = JSON.parse(p); } catch { /* left as is */ }
      }
      const pct = Number((p as Record<string, unknown> | null)?.percent);
      if (!Number.isInteger(pct) || pct < 0 || pct > 100) return reply(-1, 'invalid power percent', cmd);
      sim.setPercent(pct, `set.miner.power_percent ${pct}`);
      return reply(0, 'ok', cmd);
    }
    case 'set.system.led':
      return reply(0, 'ok', cmd);
    default:
      return reply(-2, 'invalid command', cmd);
  }
}
