import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ErrorCode, HashflexError } from '../errors';

/**
 * The board's Ed25519 ledger key. Generated at first start as PKCS#8 PEM in
 * `storage.dir/ledger.key` with mode 0600 (owner only), reused after. The public key's text
 * form is base64 of its SPKI DER (one line, 60 characters, starting "MCowBQYDK2VwAyEA").
 */
export const KEY_FILE = 'ledger.key';

/** DER prefix of an Ed25519 SPKI (RFC 8410 §4): SEQUENCE { SEQUENCE { OID 1.3.101.112 } BIT STRING } */
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export interface BoardKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** first 16 hex digits of SHA-256 of the SPKI DER; stamped into every record */
  keyId: string;
  file: string;
  created: boolean;
}

export function keyId(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

export function publicKeyText(publicKey: KeyObject, form: 'base64' | 'pem' = 'base64'): string {
  return form === 'pem'
    ? String(publicKey.export({ type: 'spki', format: 'pem' }))
    : publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
}

function fromPem(file: string, pem: string): BoardKey {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (e) {
    throw new HashflexError(`${file}: not a private key (${(e as Error).message})`, ErrorCode.ConfigInvalid);
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new HashflexError(`${file}: not an Ed25519 key`, ErrorCode.ConfigInvalid);
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, keyId: keyId(publicKey), file, created: false };
}

/** read the key in dir; undefined if there is none yet */
export function readKey(dir: string): BoardKey | undefined {
  const file = path.join(dir, KEY_FILE);
  let pem: string;
  try {
    pem = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new HashflexError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code})`, ErrorCode.ConfigInvalid);
  }
  return fromPem(file, pem);
}

/**
 * The key in dir, made at first start. `wx` makes creation exclusive, so two processes
 * starting at once cannot overwrite each other's key; a key that others can read is narrowed
 * to 0600 (a copied backup often loses its mode) and `loosened` says so.
 */
export function loadOrCreateKey(dir: string): BoardKey & { loosened: boolean } {
  fs.mkdirSync(dir, { recursive: true });
  const existing = readKey(dir);
  if (existing) {
    const mode = fs.statSync(existing.file).mode & 0o777;
    if (mode & 0o077) fs.chmodSync(existing.file, 0o600);
    return { ...existing, loosened: (mode & 0o077) !== 0 };
  }
  const { privateKey } = generateKeyPairSync('ed25519');
  const file = path.join(dir, KEY_FILE);
  const pem = String(privateKey.export({ type: 'pkcs8', format: 'pem' }));
  try {
    fs.writeFileSync(file, pem, { mode: 0o600, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return { ...fromPem(file, fs.readFileSync(file, 'utf8')), loosened: false };
    throw e;
  }
  // the umask cannot widen 0600, but a umask is not the only thing that sets modes: make sure
  fs.chmodSync(file, 0o600);
  return { ...fromPem(file, pem), created: true, loosened: false };
}

/**
 * A public key from its text form: base64 SPKI DER (what `hashflex ledger key` prints), a PEM
 * "PUBLIC KEY" block, base64 or hex of the raw 32-byte key, or a path to a file holding one.
 */
export function parsePublicKey(text: string): KeyObject {
  let t = text.trim();
  if (!t.startsWith('-----') && fs.existsSync(t) && fs.statSync(t).isFile()) t = fs.readFileSync(t, 'utf8').trim();
  let key: KeyObject;
  try {
    if (t.startsWith('-----')) key = createPublicKey(t);
    else {
      const raw = /^[0-9a-fA-F]{64}$/.test(t) ? Buffer.from(t, 'hex') : Buffer.from(t, 'base64');
      const der = raw.length === 32 ? Buffer.concat([SPKI_PREFIX, raw]) : raw;
      key = createPublicKey({ key: der, format: 'der', type: 'spki' });
    }
  } catch {
    throw new HashflexError('not a public key (expected base64 SPKI DER, PEM, or a file holding one)', ErrorCode.UsageInvalid);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new HashflexError('not an Ed25519 public key', ErrorCode.UsageInvalid);
  return key;
}
