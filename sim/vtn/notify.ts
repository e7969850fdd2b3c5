import mqtt, { type MqttClient } from 'mqtt';
import type { Clock } from '../../agent/clock';
import type { NotifierTopicsResponse, Notification, ObjectType } from '../../agent/grid/openadr/spec';

/**
 * How the simulated VTN tells its clients about operations on objects: webhooks (a POST of the
 * notification to each matching subscription's callbackUrl, with its bearerToken) and, when the
 * VTN is given a broker, MQTT (Definitions 3.1.0, "Notifications via Additional Protocols": the
 * same notification JSON, published on per-object, per-operation topics).
 */

export interface Delivery {
  at: number;
  url: string;
  notification: Notification;
  /** HTTP status of the callback's answer, or the error that stopped it */
  status?: number;
  error?: string;
}

export interface WebhookOptions {
  /** Definitions, "Configure timeouts": 10–30 s is recommended; tests use less */
  timeoutMs: number;
}

/** webhook deliveries, each awaited by `settled()` so tests never sleep for them */
export class WebhookSender {
  readonly deliveries: Delivery[] = [];
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly clock: Clock, private readonly opts: WebhookOptions) {}

  send(url: string, bearerToken: string | null | undefined, notification: Notification): void {
    const d: Delivery = { at: this.clock.now(), url, notification };
    this.deliveries.push(d);
    const p = this.post(d, bearerToken).finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  private async post(d: Delivery, bearerToken: string | null | undefined): Promise<void> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (bearerToken) headers.authorization = `Bearer ${bearerToken}`;
    try {
      // Definitions, "Redirects to private IPs": a VTN should not follow redirects
      const res = await fetch(d.url, { method: 'POST', headers, body: JSON.stringify(d.notification), redirect: 'manual', signal: AbortSignal.timeout(this.opts.timeoutMs) });
      d.status = res.status;
      await res.arrayBuffer().catch(() => undefined);
    } catch (e) {
      d.error = e instanceof Error ? e.message : String(e);
    }
  }

  /**
   * Definitions 3.1.0, "Webhooks": before a subscription is created the VTN sends GET
   * callbackUrl?echo=<random> and the callback must answer 200 with that value in its body.
   */
  async challenge(url: string, bearerToken: string | null | undefined, echo: string): Promise<boolean> {
    const u = new URL(url);
    u.searchParams.set('echo', echo);
    try {
      const res = await fetch(u, { headers: bearerToken ? { authorization: `Bearer ${bearerToken}` } : {}, redirect: 'manual', signal: AbortSignal.timeout(this.opts.timeoutMs) });
      return res.status === 200 && (await res.text()).includes(echo);
    } catch {
      return false;
    }
  }

  /** every delivery begun so far has its answer (or its error) */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }
}

/** the collection name a topic starts with, per object type */
const COLLECTION: Record<ObjectType, string> = {
  PROGRAM: 'programs',
  EVENT: 'events',
  REPORT: 'reports',
  SUBSCRIPTION: 'subscriptions',
  VEN: 'vens',
  RESOURCE: 'resources',
};

/** topic names for operations under a prefix (`programs`, `programs/p-1/events`, `vens/v-1/events` …) */
export function topicsUnder(prefix: string, withCreate = true): NotifierTopicsResponse {
  return {
    topics: {
      ...(withCreate ? { CREATE: `${prefix}/create` } : {}),
      UPDATE: `${prefix}/update`,
      DELETE: `${prefix}/delete`,
      ALL: `${prefix}/+`,
    },
  };
}

/**
 * The topics one notification is published on: the collection's, and, where it has a narrower
 * home, the program's (events), the object's own (a program, a ven) and each VEN's it concerns.
 */
export function topicsFor(n: Notification, venIds: string[]): string[] {
  const op = n.operation.toLowerCase();
  const obj = n.object;
  const out = [`${COLLECTION[n.objectType]}/${op}`];
  if (n.objectType === 'EVENT' && typeof obj.programID === 'string') out.push(`programs/${obj.programID}/events/${op}`);
  if ((n.objectType === 'PROGRAM' || n.objectType === 'VEN') && typeof obj.id === 'string' && op !== 'create') {
    out.push(`${COLLECTION[n.objectType]}/${obj.id}/${op}`);
  }
  for (const ven of venIds) {
    if (n.objectType === 'EVENT' || n.objectType === 'PROGRAM' || n.objectType === 'RESOURCE') out.push(`vens/${ven}/${COLLECTION[n.objectType]}/${op}`);
  }
  return out;
}

/** the VTN's MQTT publisher: one client to the broker, QoS 1, published notifications recorded */
export class MqttPublisher {
  readonly published: { topic: string; notification: Notification }[] = [];
  private readonly client: MqttClient;

  constructor(readonly brokerUrl: string) {
    this.client = mqtt.connect(brokerUrl, { clientId: `sim-vtn-${process.pid}-${Math.random().toString(16).slice(2, 8)}`, reconnectPeriod: 500 });
    this.client.on('error', () => {});
  }

  /** resolves once the broker has the client (publishes before that are queued by mqtt.js) */
  ready(): Promise<void> {
    if (this.client.connected) return Promise.resolve();
    return new Promise((resolve) => this.client.once('connect', () => resolve()));
  }

  publish(topics: string[], n: Notification): Promise<void> {
    const text = JSON.stringify(n);
    return Promise.all(
      topics.map(
        (topic) =>
          new Promise<void>((resolve) => {
            this.published.push({ topic, notification: n });
            this.client.publish(topic, text, { qos: 1 }, () => resolve());
          }),
      ),
    ).then(() => undefined);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.client.end(true, {}, () => resolve()));
  }
}
