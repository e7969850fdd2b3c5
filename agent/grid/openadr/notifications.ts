import { ErrorCode, HashflexError } from '../../errors';
import type { Logger } from '../../log';
import type { TokenSource } from './auth';
import type { VtnClient } from './client';
import { subscribe } from './enrol';
import { MqttNotifier } from './mqtt-notify';
import { WebhookListener } from './notify';
import type { OpenAdrSettings } from './settings';
import type { Notification, Program } from './spec';

/** a failed subscription is tried again after this many polls */
const RETRY_POLLS = 10;

export interface NotificationsOptions {
  settings: OpenAdrSettings;
  client: VtnClient;
  auth: TokenSource;
  log: Logger;
  onNotification(n: Notification): void;
  /** log a line once per key */
  once(key: string, fields: object, msg: string): void;
}

/**
 * How the VTN tells the VEN of a change, once it is enrolled: the webhook where openadr.notify
 * gives a listener and the VTN takes the subscription, else MQTT where /notifiers offers a broker
 * this VEN can use, else none. Polling runs under all three; a failed attempt is tried again some
 * polls later.
 */
export class Notifications {
  private webhook?: WebhookListener;
  private subscribed = false;
  private mqtt?: MqttNotifier;
  private retryIn = 0;
  private closed = false;

  constructor(private readonly o: NotificationsOptions) {}

  get kind(): 'webhook' | 'mqtt' | 'none' {
    return this.subscribed ? 'webhook' : this.mqtt?.connected ? 'mqtt' : 'none';
  }

  /** the webhook listener, where one is configured; a listen that fails leaves polling alone */
  async open(): Promise<void> {
    const n = this.o.settings.notify;
    if (!n) return;
    const w = new WebhookListener(n.listen, n.url, this.o.onNotification, this.o.log);
    try {
      await w.start();
      this.webhook = w;
    } catch (e) {
      this.o.log.error({ listen: n.listen, err: (e as Error).message }, 'openadr webhook cannot listen; polling only');
    }
  }

  /** after a poll: subscribe if not yet (or not lately tried) */
  async ensure(venId: string, programs: Program[]): Promise<void> {
    if (this.subscribed || this.mqtt || this.closed) return;
    if (this.retryIn-- > 0) return;
    const fail = (e: unknown) => {
      this.retryIn = RETRY_POLLS;
      const err = e instanceof Error ? e.message : String(e);
      this.o.once(`subscribe/${err}`, { err }, 'openadr notification subscription failed; polling only');
    };
    let offered;
    try {
      offered = await this.o.client.notifiers();
    } catch (e) {
      return fail(e);
    }
    if (this.webhook && offered.WEBHOOK) {
      try {
        const ids = await subscribe(this.o.client, this.o.settings.venName, programs, this.webhook.callbackUrl, this.webhook.bearerToken);
        this.subscribed = true;
        this.o.log.info({ callback: this.webhook.callbackUrl, subscriptions: ids.length }, 'openadr webhook subscribed');
        return;
      } catch (e) {
        fail(e);
        if (!offered.MQTT) return;
      }
    }
    if (!offered.MQTT) return fail(new HashflexError('the VTN offers no notifier this VEN can use (set openadr.notify for webhooks)', ErrorCode.VtnRefused));
    const s = this.o.settings;
    const m = new MqttNotifier({
      binding: offered.MQTT,
      topics: await this.o.client.venEventTopics(venId).catch(() => ({ topics: {} })),
      clientId: s.clientId,
      venName: s.venName,
      token: () => this.o.auth.peek(),
      caFile: s.caFile,
      timeoutMs: s.timeoutMs ?? 10_000,
      log: this.o.log,
      onNotification: this.o.onNotification,
    });
    try {
      await m.start();
      if (this.closed) await m.stop();
      else this.mqtt = m;
    } catch (e) {
      fail(e);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.webhook?.stop();
    await this.mqtt?.stop();
  }
}
