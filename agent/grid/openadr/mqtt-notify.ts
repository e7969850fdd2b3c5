import fs from 'node:fs';
import crypto from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from '../../log';
import { ErrorCode, HashflexError } from '../../errors';
import { parseJson } from './auth';
import { notificationSchema, type MqttBinding, type Notification, type NotifierTopicsResponse } from './spec';

/**
 * Notifications over the VTN's MQTT broker (Definitions 3.1.0, "Notifications via Additional
 * Protocols" and "MQTT"), where GET /notifiers offers it: connect with the binding's
 * authentication (ANONYMOUS, or OAUTH2_BEARER_TOKEN: the VEN's access token as the password),
 * subscribe to the topics the VTN names for this VEN's events, and take each message as a hint
 * to poll now, as a webhook notification is. MQTT MUST run over TLS: mqtts://, or mqtt:// only
 * to a loopback broker. Client certificates (CERTIFICATE) are not supported: polling only then.
 */

export interface MqttNotifierOptions {
  binding: MqttBinding;
  topics: NotifierTopicsResponse;
  clientId?: string;
  venName: string;
  /** the access token now (OAUTH2_BEARER_TOKEN's password), read again at each reconnect */
  token(): string | undefined;
  caFile?: string;
  timeoutMs: number;
  log: Logger;
  onNotification(n: Notification): void;
}

/** why a binding cannot be used, or undefined */
export function mqttUnusable(b: MqttBinding): string | undefined {
  if (b.authentication.method === 'CERTIFICATE') return 'the broker asks for a client certificate, not supported';
  const url = b.URIS.find(usableUri);
  if (!url) return `no broker address over TLS (mqtts://) among ${b.URIS.length}`;
  if (b.serialization !== 'JSON') return `serialization ${b.serialization} is not JSON`;
  return undefined;
}

function usableUri(u: string): boolean {
  try {
    const url = new URL(u);
    return url.protocol === 'mqtts:' || (url.protocol === 'mqtt:' && /^(127\.|localhost$|\[::1\]$)/.test(url.hostname));
  } catch {
    return false;
  }
}

export class MqttNotifier {
  private client?: MqttClient;
  received = 0;

  constructor(private readonly o: MqttNotifierOptions) {}

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  /** connected and subscribed, or rejects (the VEN then polls only) */
  async start(): Promise<void> {
    const b = this.o.binding;
    const why = mqttUnusable(b);
    if (why) throw new HashflexError(`MQTT notifier: ${why}`, ErrorCode.VtnRefused);
    const url = b.URIS.find(usableUri)!;
    const topics = [...new Set(Object.entries(this.o.topics.topics).filter(([k]) => ['ALL', 'CREATE', 'UPDATE', 'DELETE'].includes(k)).map(([, t]) => t).filter((t): t is string => typeof t === 'string'))];
    // ALL covers the others where the VTN offers it
    const wanted = this.o.topics.topics.ALL ? [this.o.topics.topics.ALL] : topics;
    if (!wanted.length) throw new HashflexError('MQTT notifier: the VTN names no topics for this VEN\'s events', ErrorCode.VtnProtocol);
    const auth = b.authentication;
    const username = auth.method === 'OAUTH2_BEARER_TOKEN' ? (auth.username === '{clientID}' ? this.o.clientId ?? '' : auth.username) : undefined;
    const client = mqtt.connect(url, {
      clientId: `hashflex-${this.o.venName.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40)}-${crypto.randomBytes(4).toString('hex')}`,
      username,
      password: username !== undefined ? this.o.token() : undefined,
      ca: this.o.caFile ? fs.readFileSync(this.o.caFile) : undefined,
      connectTimeout: this.o.timeoutMs,
      reconnectPeriod: 5000,
      clean: true,
    });
    this.client = client;
    // a reconnect after the token was refreshed presents the new one
    client.on('reconnect', () => { if (username !== undefined) client.options.password = this.o.token(); });
    client.on('error', (e) => this.o.log.debug({ err: e.message }, 'openadr MQTT notifier error'));
    client.on('message', (_topic, payload) => {
      const n = notificationSchema.safeParse(parseJson(payload.toString('utf8')));
      if (!n.success) return void this.o.log.warn({ issue: n.error.issues[0]?.message }, 'openadr MQTT message is not a notification; ignored');
      this.received++;
      this.o.onNotification(n.data);
    });
    try {
      await new Promise<void>((resolve, reject) => {
        client.once('connect', () => resolve());
        client.once('error', reject);
        client.once('close', () => reject(new Error('connection closed')));
      });
      await client.subscribeAsync(wanted, { qos: 1 });
    } catch (e) {
      await this.stop();
      throw new HashflexError(`MQTT notifier ${url.replace(/\/\/[^@/]*@/, '//')}: ${(e as Error).message}`, ErrorCode.TransportOpenFailed, { disconnected: true });
    }
    this.o.log.info({ broker: url, topics: wanted }, 'openadr MQTT notifications subscribed');
  }

  async stop(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    if (c) await c.endAsync(true);
  }
}
