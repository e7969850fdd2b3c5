import { createHash } from 'node:crypto';

/**
 * MD5-crypt, the `$1$` scheme of FreeBSD (Poul-Henning Kamp, 1994), as `openssl passwd -1`
 * computes it. The Whatsminer API v2 derives its write key and token sign with it (the API
 * document: "key = `openssl passwd -1 -salt $salt "${admin_password}"`"). Written from the
 * algorithm's description; test/miner-whatsminer-crypto.test.ts checks it against openssl.
 */
const MAGIC = '$1$';
const ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

const md5 = (...parts: Buffer[]): Buffer => {
  const h = createHash('md5');
  for (const p of parts) h.update(p);
  return h.digest();
};

function to64(v: number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) {
    s += ITOA64[v & 0x3f];
    v >>>= 6;
  }
  return s;
}

/** The salt as the scheme uses it: up to 8 characters, ending at the first `$`, any `$1$` prefix dropped. */
export function md5CryptSalt(salt: string): string {
  const s = salt.startsWith(MAGIC) ? salt.slice(MAGIC.length) : salt;
  const end = s.indexOf('$');
  return (end >= 0 ? s.slice(0, end) : s).slice(0, 8);
}

/** `$1$salt$hash` for `password` (UTF-8) and `salt`. */
export function md5Crypt(password: string, salt: string): string {
  const pw = Buffer.from(password, 'utf8');
  const sl = md5CryptSalt(salt);
  const sb = Buffer.from(sl, 'utf8');

  const alt = md5(pw, sb, pw);
  const ctx = createHash('md5');
  ctx.update(pw);
  ctx.update(MAGIC);
  ctx.update(sb);
  for (let left = pw.length; left > 0; left -= 16) ctx.update(alt.subarray(0, Math.min(16, left)));
  // the original's quirk: a NUL for each set bit of the length, the first password byte for each clear one
  for (let i = pw.length; i > 0; i >>>= 1) ctx.update(i & 1 ? Buffer.alloc(1) : pw.subarray(0, 1));
  let f: Buffer = ctx.digest();

  // 1000 rounds, to slow down brute force (the scheme's own constant)
  for (let i = 0; i < 1000; i++) {
    const parts: Buffer[] = [i & 1 ? pw : f];
    if (i % 3) parts.push(sb);
    if (i % 7) parts.push(pw);
    parts.push(i & 1 ? f : pw);
    f = md5(...parts);
  }

  const hash =
    to64((f[0] << 16) | (f[6] << 8) | f[12], 4) +
    to64((f[1] << 16) | (f[7] << 8) | f[13], 4) +
    to64((f[2] << 16) | (f[8] << 8) | f[14], 4) +
    to64((f[3] << 16) | (f[9] << 8) | f[15], 4) +
    to64((f[4] << 16) | (f[10] << 8) | f[5], 4) +
    to64(f[11], 2);
  return `${MAGIC}${sl}$${hash}`;
}

/** The hash part alone (the 22 characters after the salt), which is what Whatsminer uses. */
export function md5CryptHash(password: string, salt: string): string {
  const full = md5Crypt(password, salt);
  return full.slice(full.lastIndexOf('$') + 1);
}
