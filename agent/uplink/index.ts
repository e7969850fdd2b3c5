import crypto from 'node:crypto';
import fs from 'node:fs';
import { type Clock, realClock } from '../clock';
import { ErrorCode, HashflexError } from '../errors';
import { Uplink } from './client';
import { DEFAULT_MAX_BYTES, Journal, type JournalSync } from './journal';

export { Uplink, type UplinkOptions, type UplinkStats } from './client';
export { Journal, type JournalOptions, type JournalStats, type JournalSync } from './journal';
export * from './protocol';

/**
 * Build the uplink and its journal from the config sections `uplink` and `storage` (README,
 * "Uplink, local server and storage"). The config module validates shapes; this reads the files
 * the config points at (token_file, ca_file), so a missing file is reported with its key path.
 */

export interface UplinkConfig {
  url: string;
  token?: string;
  token_file?: string;
  /** PEM CA bundle for wss:// with a private CA */
  ca_file?: string;
  backoff_min_ms?: number;
  backoff_max_ms?: number;
}

export interface StorageConfig {
  dir: string;
  /** journal bound in MiB (default 64) */
  journal_max_mb?: number;
  /** 'async' (default): fsync off the event loop before sending; 'full': fsync inline; 'normal': no fsync */
  journal_sync?: JournalSync;
  /** 'inline' (default) or 'worker': SQLite checkpoints off the event loop, ~10 MB RSS more */
  journal_checkpoint?: 'inline' | 'worker';
}

/** `token` or the first line of `token_file` (trimmed); `where` names the section for errors */
export function readToken(cfg: { token?: string; token_file?: string }, where: string): string | undefined {
  if (cfg.token !== undefined) return cfg.token;
  if (cfg.token_file === undefined) return undefined;
  let text: string;
  try {
    text = fs.readFileSync(cfg.token_file, 'utf8');
  } catch (e) {
    throw new HashflexError(`${where}.token_file: cannot read ${cfg.token_file}: ${(e as NodeJS.ErrnoException).code ?? e}`, ErrorCode.ConfigInvalid);
  }
  const token = text.split('\n')[0].trim();
  if (!token) throw new HashflexError(`${where}.token_file: ${cfg.token_file} is empty`, ErrorCode.ConfigInvalid);
  return token;
}

export interface UplinkFromConfig {
  agentId: string;
  version: string;
  uplink: UplinkConfig;
  storage: StorageConfig;
}

export function openUplink(cfg: UplinkFromConfig, clock: Clock = realClock): { uplink: Uplink; journal: Journal; close(): Promise<void> } {
  const token = readToken(cfg.uplink, 'uplink');
  if (cfg.uplink.ca_file !== undefined && !fs.existsSync(cfg.uplink.ca_file)) {
    throw new HashflexError(`uplink.ca_file: ${cfg.uplink.ca_file} does not exist`, ErrorCode.ConfigInvalid);
  }
  const journal = Journal.open({
    dir: cfg.storage.dir,
    maxBytes: cfg.storage.journal_max_mb !== undefined ? cfg.storage.journal_max_mb * 1024 * 1024 : DEFAULT_MAX_BYTES,
    sync: cfg.storage.journal_sync,
    checkpoint: cfg.storage.journal_checkpoint,
  });
  const uplink = new Uplink({
    url: cfg.uplink.url,
    token,
    caFile: cfg.uplink.ca_file,
    agentId: cfg.agentId,
    version: cfg.version,
    bootId: crypto.randomUUID(),
    journal,
    backoff: { minMs: cfg.uplink.backoff_min_ms, maxMs: cfg.uplink.backoff_max_ms },
  }, clock);
  return {
    uplink,
    journal,
    async close() {
      await uplink.stop();
      journal.close();
    },
  };
}
