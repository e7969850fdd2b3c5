import { createCipheriv, createDecipheriv, createHash } from 'node:crypto';
import { ErrorCode, HashflexError } from '../../../agent/errors';
import { md5CryptHash } from './md5crypt';

/**
 * The key derivations of the Whatsminer APIs (pure functions; golden tests against openssl in
 * test/miner-whatsminer-crypto.test.ts).
 *
 * API v2 (TCP 4028; the Whatsminer API v2 document, "API ciphertext", and pyasic
 * pyasic/rpc/btminer.py `get_token` / `create_privileged_cmd`):
 *   get_token -> {time, salt, newsalt}
 *   key    = hash part of md5-crypt(admin password, salt)       (`openssl passwd -1 -salt`)
 *   sign   = hash part of md5-crypt(key + time, newsalt)        (the request's "token")
 *   aeskey = SHA-256(key), 32 raw bytes; AES-256-ECB, plaintext padded with NULs to 16 bytes,
 *            base64 without line breaks; request {"enc":1,"data":...}, reply {"enc":"..."}
 * The key depends on the password and the (fixed) salt only; each token's sign adds its time and
 * newsalt, so a fresh token changes the sign and never the AES key.
 *
 * API v3 (TCP 4433; MicroBT's v3 sample client and pyasic `BTMinerV3RPCAPI.send_command`):
 *   token = first 8 characters of base64(SHA-256(cmd + password + salt + ts)), ts in seconds,
 *   salt from `get.device.info` "salt"; sent with {"ts", "account", "token"} on every `set.*`.
 */

export interface V2TokenMsg {
  time: string;
  salt: string;
  newsalt: string;
}

export interface V2Credentials {
  /** the request's "token" field */
  sign: string;
  /** AES-256 key (32 bytes) */
  aesKey: Buffer;
}

export function v2Key(password: string, salt: string): string {
  return md5CryptHash(password, salt);
}

export function v2AesKey(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

export function v2Sign(key: string, time: string, newsalt: string): string {
  return md5CryptHash(key + time, newsalt);
}

export function v2Credentials(password: string, t: V2TokenMsg): V2Credentials {
  const key = v2Key(password, t.salt);
  return { sign: v2Sign(key, t.time, t.newsalt), aesKey: v2AesKey(key) };
}

/** AES-256-ECB of `plain` padded with NULs to a 16-byte multiple, base64 (no line breaks). */
export function aesEcbEncrypt(aesKey: Buffer, plain: string): string {
  const raw = Buffer.from(plain, 'utf8');
  const padded = Buffer.alloc(Math.ceil(raw.length / 16) * 16 || 16);
  raw.copy(padded);
  const c = createCipheriv('aes-256-ecb', aesKey, null);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(padded), c.final()]).toString('base64');
}

/** The inverse of aesEcbEncrypt; trailing NULs removed. Throws FrameInvalid on bad base64 or length. */
export function aesEcbDecrypt(aesKey: Buffer, b64: string): string {
  const data = Buffer.from(b64, 'base64');
  if (data.length === 0 || data.length % 16 !== 0) {
    throw new HashflexError(`encrypted reply of ${data.length} bytes is not whole AES blocks`, ErrorCode.FrameInvalid);
  }
  const d = createDecipheriv('aes-256-ecb', aesKey, null);
  d.setAutoPadding(false);
  const out = Buffer.concat([d.update(data), d.final()]);
  let end = out.length;
  while (end > 0 && out[end - 1] === 0) end--;
  return out.subarray(0, end).toString('utf8');
}

/** The v2 write request for a plain command object: {"enc":1,"data":base64(aes(json with token))}. */
export function v2EncryptRequest(cred: V2Credentials, command: Record<string, unknown>): string {
  return JSON.stringify({ enc: 1, data: aesEcbEncrypt(cred.aesKey, JSON.stringify({ ...command, token: cred.sign })) });
}

export function v3Token(cmd: string, password: string, salt: string, ts: number): string {
  return createHash('sha256').update(`${cmd}${password}${salt}${ts}`, 'utf8').digest('base64').slice(0, 8);
}
