import type { IClientOptions, IConnackPacket, IPublishPacket, MqttClient } from 'mqtt';
import type { Link, LinkHandler, OutKind, Transport } from './transport';

/**
 * Protocol v1 over MQTT 5 on an existing broker (Mosquitto, EMQX, HiveMQ), with the `mqtt`
 * package (v5). The frames are the WebSocket ones, byte for byte; only the addressing changes
 * (README, "Uplink over MQTT"):
 *
 *   <prefix>/<site>/<agent>/hello|telemetry|event|ack   agent -> controller, QoS 1, not retained
 *   <prefix>/<site>/<agent>/state                      retained {"online":bool,...}; last will = offline
 *   <prefix>/<site>/<agent>/cmd                        controller -> this agent: commands, `received`
 *   <prefix>/<site>/<agent>/received                   controller -> this agent: `received` frames
 *   <prefix>/<site>/cmd                                controller -> every agent of the site: commands
 *
 * Delivery: QoS 1 publishes, so the broker's PUBACK only means the broker has the frame; the
 * journal keeps it until the controller's `received` (client.ts). Each connection is a fresh
 * MQTT client with a clean start and no session (reconnectPeriod 0): the protocol's own backoff
 * reconnects and its journal resend replaces the MQTT session's redelivery, so the two never
 * both resend. Commands published while an agent is offline are therefore not queued for it; a
 * controller sees that from the retained state and the hello that follows. Retained messages on
 * the command topics are ignored: a retained `release` would be replayed at every reconnect.
 */

export interface MqttOptions {
  /** site id: the second topic level; every agent of a site reads <prefix>/<site>/cmd */
  site: string;
  /** broker user name; default the agent id when a password is given */
  username?: string;
  /** broker password; default the uplink token */
  password?: string;
  /** MQTT client id; default hashflex-<site>-<agent> (must be unique on the broker) */
  clientId?: string;
  /** first topic level; default 'hashflex' */
  topicPrefix?: string;
}

export interface MqttTopics {
  hello: string;
  telemetry: string;
  event: string;
  ack: string;
  state: string;
  cmd: string;
  received: string;
  siteCmd: string;
}

const LEVEL = /^[A-Za-z0-9_.-]{1,64}$/;
/** most frames published before their PUBACKs, whatever larger receiveMaximum the broker allows */
const MAX_INFLIGHT = 64;

export function mqttTopics(prefix: string, site: string, agent: string): MqttTopics {
  for (const [what, v] of [['site', site], ['agent id', agent]] as const) {
    // a '+', '#' or '/' in a level would widen or split the topic
    if (!LEVEL.test(v)) throw new Error(`MQTT ${what} "${v}" must be 1-64 letters, digits, "_", "." or "-"`);
  }
  if (!/^[A-Za-z0-9_.\-/]{1,128}$/.test(prefix) || prefix.startsWith('/') || prefix.endsWith('/')) {
    throw new Error(`MQTT topic prefix "${prefix}" must be levels of letters, digits, "_", "." or "-"`);
  }
  const a = `${prefix}/${site}/${agent}`;
  return {
    hello: `${a}/hello`, telemetry: `${a}/telemetry`, event: `${a}/event`, ack: `${a}/ack`,
    state: `${a}/state`, cmd: `${a}/cmd`, received: `${a}/received`, siteCmd: `${prefix}/${site}/cmd`,
  };
}

/** how an agent appears on the broker: its topics, client id and user, with MqttOptions' defaults */
export function mqttIdentity(o: MqttOptions, agentId: string): { topics: MqttTopics; clientId: string; username?: string } {
  return {
    topics: mqttTopics(o.topicPrefix ?? 'hashflex', o.site, agentId),
    clientId: o.clientId ?? `hashflex-${o.site}-${agentId}`,
    username: o.password !== undefined ? (o.username ?? agentId) : o.username,
  };
}

export function isMqttUrl(url: string): boolean {
  return /^(mqtts?|mqtt\+wss?):\/\//i.test(url);
}

/** the url the mqtt package understands: mqtt+ws://h/p -> ws://h/p (MQTT over WebSocket) */
export function brokerUrl(url: string): string {
  return url.replace(/^mqtt\+(wss?):\/\//i, '$1://');
}

export interface MqttTransportOptions extends MqttOptions {
  url: string;
  ca?: Buffer;
  agentId: string;
  bootId: string;
  version: string;
  maxPayload?: number;
  pingMs?: number;
}

export function mqttTransport(o: MqttTransportOptions): Transport {
  const { topics: t, clientId, username } = mqttIdentity(o, o.agentId);
  const state = (online: boolean): string => JSON.stringify({ online, agent: o.agentId, boot: o.bootId, version: o.version });
  // loaded on first use: a WebSocket-only agent does not pay for the mqtt package
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mqtt = require('mqtt') as typeof import('mqtt');
  const options: IClientOptions = {
    protocolVersion: 5,
    clientId,
    username,
    password: o.password,
    ca: o.ca,
    clean: true,
    reconnectPeriod: 0,
    resubscribe: false,
    connectTimeout: 10_000,
    keepalive: Math.max(1, Math.ceil((o.pingMs ?? 15_000) / 1000)),
    will: { topic: t.state, payload: Buffer.from(state(false)), qos: 1, retain: true },
    // MQTT 5: the broker must not send us packets above this, nor keep a session for us
    properties: { maximumPacketSize: (o.maxPayload ?? 64 * 1024) + 1024, sessionExpiryInterval: 0 },
  };
  const url = brokerUrl(o.url);
  // rap (Retain As Published): see the retain flag on live deliveries too, so a command published
  // with retain is refused at once and not only when the broker replays it at the next subscribe
  const sub = { qos: 1 as const, rap: true };

  return (h: LinkHandler): Link => {
    const client: MqttClient = mqtt.connect(url, options);
    let closing = false;
    let opened = false;
    let gone = false;
    let reason = 'connection lost';
    // own flow control: mqtt.js does not honour the broker's receiveMaximum, and a broker may
    // disconnect a client that has more unacknowledged QoS 1 publishes in flight than it allows
    let window = 20;
    let inflight = 0;
    const queue: { topic: string; text: string; retain: boolean; cb?: (err?: Error) => void }[] = [];
    const flush = (): void => {
      while (!gone && inflight < window && queue.length > 0) {
        const m = queue.shift()!;
        inflight++;
        client.publish(m.topic, m.text, { qos: 1, retain: m.retain }, (err) => {
          inflight--;
          m.cb?.(err ?? undefined);
          flush();
        });
      }
    };
    const publish = (topic: string, text: string, retain: boolean, cb?: (err?: Error) => void): void => {
      queue.push({ topic, text, retain, cb });
      flush();
    };

    client.on('connect', (connack: IConnackPacket) => {
      // Nagle would hold an ack behind the previous telemetry publish until the broker's delayed
      // TCP ACK (up to 40 ms on Linux); mqtt.js does not set TCP_NODELAY itself
      (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
      window = Math.max(1, Math.min(connack.properties?.receiveMaximum ?? 65_535, MAX_INFLIGHT));
      client.subscribe({ [t.cmd]: sub, [t.received]: sub, [t.siteCmd]: sub }, (err, granted) => {
        if (closing || gone) return;
        const refused = (granted ?? []).find((g) => g.qos >= 128);
        if (err || refused) {
          h.error(`broker refused the command subscriptions: ${err?.message ?? `reason ${refused?.qos}`}`);
          reason = 'subscribe refused';
          client.end(true);
          return;
        }
        publish(t.state, state(true), true);
        opened = true;
        h.open();
      });
    });
    client.on('message', (topic: string, payload: Buffer, packet: IPublishPacket) => {
      if (!opened || closing) return;
      if (packet.retain) {
        h.error(`retained message on ${topic} ignored: commands must not be retained`);
        return;
      }
      h.message(payload.toString('utf8'), topic === t.siteCmd ? 'site' : 'agent');
    });
    client.on('packetsend', (p) => { if (p.cmd === 'pingreq') h.ping(); });
    client.on('packetreceive', (p) => { if (p.cmd === 'pingresp') h.pong(); });
    client.on('disconnect', (p) => { reason = `broker disconnected us (reason ${p.reasonCode ?? 0})`; });
    client.on('error', (e: Error & { code?: number | string }) => {
      // CONNACK 134 bad user name or password, 135 not authorized (MQTT 5.0 §3.2.2.2)
      if (e.code === 134 || e.code === 135) {
        reason = `refused by broker (${e.code})`;
        h.authFailed(e.code);
      } else h.error(e.message, e.code === undefined ? undefined : String(e.code));
      if (!opened) client.end(true);
    });
    client.on('close', () => {
      if (gone) return;
      gone = true;
      queue.length = 0;
      // no reconnect here (reconnectPeriod 0): the protocol's backoff decides when
      client.end(true);
      if (!closing) h.close(1006, reason);
    });

    return {
      send: (kind: OutKind, text, cb) => publish(t[kind], text, false, cb),
      cut: (_code, why) => {
        reason = why;
        client.end(true);
      },
      close: () => {
        const wasOpen = opened && !gone;
        closing = true;
        if (gone) return Promise.resolve();
        return new Promise<void>((resolve) => {
          const done = (): void => { clearTimeout(guard); client.end(true, {}, () => resolve()); };
          // shutdown guard only (not control logic): a broker that never answers must not hold
          // the agent's exit, so this uses the real timer on purpose
          const guard = setTimeout(done, 1000);
          guard.unref();
          // an orderly DISCONNECT suppresses the will, so say offline ourselves first
          if (wasOpen) publish(t.state, state(false), true, () => { clearTimeout(guard); client.end(false, {}, () => resolve()); });
          else done();
        });
      },
    };
  };
}
