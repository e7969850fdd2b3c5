import crypto from 'node:crypto';
import fs from 'node:fs';
import { type Clock, realClock } from '../clock';
import { ErrorCode, HashflexError } from '../errors';
import { readSecret } from '../security';
import { Uplink, type UplinkOptions } from './client';
import type { MqttOptions } from './mqtt-transport';
import { DEFAULT_MAX_BYTES, Journal, type JournalSync } from './journal';

export { Uplink, type UplinkOptions, type UplinkStats, transportFor } from './client';
export { type MqttOptions, type MqttTopics, mqttIdentity, mqttTopics, isMqttUrl, brokerUrl } from './mqtt-transport';
export type { Transport, Link, LinkHandler, OutKind, Scope } from './transport';
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
  /** MQTT urls only: site id (topic level), broker user (default agent id), client id, topic prefix */
  site?: string;
  username?: string;
  /** broker password; `token`/`token_file` serve when this is absent */
  password?: string;
  client_id?: string;
  topic_prefix?: string;
}

/**
 * The uplink for `opts.url`: WebSocket for ws:// and wss://, MQTT 5 for mqtt://, mqtts://,
 * mqtt+ws:// and mqtt+wss:// (then `opts.mqtt.site` is required). Same class, same API and
 * events either way; only the transport under the protocol differs.
 */
export function createUplink(opts: UplinkOptions, clock: Clock = realClock): Uplink {
  return new Uplink(opts, clock);
}

/** the MQTT part of UplinkOptions from the config's uplink section (undefined for WebSocket) */
export function mqttOptions(cfg: UplinkConfig): MqttOptions | undefined {
  if (cfg.site === undefined) return undefined;
  return { site: cfg.site, username: cfg.username, password: cfg.password, clientId: cfg.client_id, topicPrefix: cfg.topic_prefix };
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

/**
 * `token`, or `token_file` read by the secret rule (security.ts: its first line, trailing
 * whitespace trimmed, at least 8 characters); `where` names the section for errors. A token
 * that breaks the rule is a ConfigInvalid error naming its key, never used.
 */
export function readToken(cfg: { token?: string; token_file?: string }, where: string): string | undefined {
  const r = readSecret({ key: `${where}.token`, inline: cfg.token, file: cfg.token_file }, process.cwd());
  if (r.problem) throw new HashflexError(r.problem, ErrorCode.ConfigInvalid);
  return r.value;
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
  const uplink = createUplink({
    url: cfg.uplink.url,
    mqtt: mqttOptions(cfg.uplink),
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
