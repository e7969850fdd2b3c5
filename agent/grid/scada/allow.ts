import net from 'node:net';
import { ErrorCode, HashflexError } from '../../errors';

/**
 * `scada.allow`: the client addresses served, as CIDRs ("10.0.4.0/24", "fd00::/8"; a bare
 * address is one host). Modbus has no authentication, so this list (and a firewall) is what
 * stands between the curtail coil and the network. Checked on Node's BlockList.
 */
/** `scada.allow` when not given: this board only (it is required for any other listen address) */
export const SCADA_DEFAULT_ALLOW: readonly string[] = ['127.0.0.0/8', '::1/128'];

export interface AllowList {
  allows(address: string | undefined): boolean;
  readonly cidrs: readonly string[];
}

/** what is wrong with one entry, or undefined when it is a valid CIDR */
export function cidrProblem(s: string): string | undefined {
  const m = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(s.trim());
  if (!m) return `expected an address or CIDR like "10.0.0.0/24", got "${s}"`;
  const family = net.isIP(m[1]);
  if (family === 0) return `"${m[1]}" is not an IPv4 or IPv6 address`;
  const max = family === 4 ? 32 : 128;
  if (m[2] !== undefined && Number(m[2]) > max) return `prefix /${m[2]} is longer than ${max} bits`;
  return undefined;
}

export function allowList(cidrs: readonly string[]): AllowList {
  const list = new net.BlockList();
  for (const c of cidrs) {
    const bad = cidrProblem(c);
    if (bad) throw new HashflexError(`scada.allow: ${bad}`, ErrorCode.ConfigInvalid);
    const [addr, prefix] = c.trim().split('/');
    const type = net.isIP(addr) === 4 ? 'ipv4' : 'ipv6';
    list.addSubnet(addr, prefix === undefined ? (type === 'ipv4' ? 32 : 128) : Number(prefix), type);
  }
  return {
    cidrs,
    allows(address) {
      if (!address) return false;
      // an IPv4 client of a dual-stack ("::") listener shows as ::ffff:a.b.c.d
      const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
      const a = v4 ?? address;
      const family = net.isIP(a);
      if (family === 0) return false;
      return list.check(a, family === 4 ? 'ipv4' : 'ipv6');
    },
  };
}
