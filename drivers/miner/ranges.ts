import net from 'node:net';
import { cidrProblem } from '../../agent/grid/scada/allow';
import { ErrorCode, HashflexError } from '../../agent/errors';

/**
 * The address ranges `hashflex discover` may scan (DESIGN.md §7): IPv4 CIDRs (or bare addresses)
 * inside the private (RFC 1918), loopback (RFC 1122) and link-local (RFC 3927) blocks only, at
 * most MAX_ADDRESSES a run. A scan of someone else's network is never one typo away: a range that
 * reaches outside those blocks is refused whole, before anything is sent.
 */
export const MAX_ADDRESSES = 4096;

/** the kinds of range that may be scanned, as [network, prefix, name] */
export const SCANNABLE: readonly (readonly [string, number, string])[] = [
  ['10.0.0.0', 8, 'private (RFC 1918)'],
  ['172.16.0.0', 12, 'private (RFC 1918)'],
  ['192.168.0.0', 16, 'private (RFC 1918)'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
];

export interface Range {
  /** as given */
  text: string;
  /** the first and last address (as 32-bit numbers) of the block */
  first: number;
  last: number;
  prefix: number;
}

const toInt = (a: string): number => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
export const toAddress = (n: number): string => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

function bad(message: string): HashflexError {
  return new HashflexError(message, ErrorCode.UsageInvalid);
}

/** one CIDR or address, checked for form and kind; throws a UsageInvalid HashflexError */
export function parseRange(text: string): Range {
  const s = text.trim();
  const problem = cidrProblem(s);
  if (problem) throw bad(`${text}: ${problem}`);
  const [addr, p] = s.split('/');
  if (net.isIP(addr) !== 4) throw bad(`${text}: only IPv4 ranges can be scanned`);
  const prefix = p === undefined ? 32 : Number(p);
  const size = 2 ** (32 - prefix);
  const first = Math.floor(toInt(addr) / size) * size;
  const last = first + size - 1;
  const kind = SCANNABLE.find(([n, k]) => {
    const base = toInt(n);
    return prefix >= k && first >= base && last < base + 2 ** (32 - k);
  });
  if (!kind) {
    throw bad(`${text}: not a range discover scans; only private (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16), loopback (127.0.0.0/8) and link-local (169.254.0.0/16) ranges, each wholly inside one of them`);
  }
  return { text: s, first, last, prefix };
}

/**
 * The addresses to probe, in order, without duplicates. A block of /30 or wider skips its network
 * and broadcast addresses (no host answers there); a /31 or /32 is all hosts. Throws before any
 * expansion when the total is over `max`.
 */
export function expandRanges(texts: readonly string[], max = MAX_ADDRESSES): string[] {
  if (texts.length === 0) throw bad('discover needs at least one range (CIDR), e.g. 10.0.1.0/24');
  const ranges = texts.map(parseRange);
  const hosts = (r: Range) => (r.prefix <= 30 ? { from: r.first + 1, to: r.last - 1 } : { from: r.first, to: r.last });
  // count before expanding: a /8 must not allocate sixteen million strings to be refused
  let upper = 0;
  for (const r of ranges) {
    const h = hosts(r);
    upper += h.to - h.from + 1;
  }
  const seen = new Set<number>();
  const out: string[] = [];
  if (upper > max * ranges.length) throw tooMany(upper, max);
  for (const r of ranges) {
    const h = hosts(r);
    for (let n = h.from; n <= h.to; n++) {
      if (seen.has(n)) continue;
      seen.add(n);
      out.push(toAddress(n));
    }
  }
  if (out.length > max) throw tooMany(out.length, max);
  return out;
}

function tooMany(n: number, max: number): HashflexError {
  return bad(`${n} addresses to scan; discover scans at most ${max} a run (a /20): split the ranges over several runs`);
}
