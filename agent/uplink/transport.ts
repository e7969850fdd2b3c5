/**
 * The seam between the uplink's protocol (client.ts: hello, journal resend in seq order,
 * `received`, command validation, flood limits, reconnect backoff) and the pipes it rides:
 * WebSocket (ws-transport.ts) or MQTT 5 (mqtt-transport.ts). A transport only moves protocol
 * v1 frames as text; it never parses them, never retries and never holds state beyond one
 * connection. One call of a Transport is one connection attempt.
 */

/** what the agent sends; an MQTT transport picks the topic from it, WebSocket ignores it */
export type OutKind = 'hello' | 'telemetry' | 'event' | 'ack';

/**
 * Where a controller frame came from. 'agent': addressed to this agent alone (the WebSocket, or
 * the agent's own MQTT topics). 'site': a site-wide MQTT topic every agent of the site reads, on
 * which a `received` (whose seq is per agent) means nothing and is refused.
 */
export type Scope = 'agent' | 'site';

export interface LinkHandler {
  /** the connection is ready for frames (WebSocket open; MQTT CONNACK + SUBACK) */
  open(): void;
  /** one frame from the controller; undefined for a frame that is not text (WebSocket binary) */
  message(text: string | undefined, scope: Scope): void;
  /** the connection is gone, whether it ever opened or not; called once */
  close(code: number, reason: string): void;
  /** the far side refused our credentials (HTTP 401/403, MQTT CONNACK 134/135) */
  authFailed(status: number): void;
  /** the controller sent a frame above maxPayload; the transport closed the connection */
  oversized(): void;
  ping(): void;
  pong(): void;
  /**
   * something went wrong on this connection; `code` is the error's own (ECONNREFUSED,
   * UNABLE_TO_VERIFY_LEAF_SIGNATURE, …) where it has one. The first one of an attempt that never
   * opens is what the uplink logs as the cause.
   */
  error(message: string, code?: string): void;
}

export interface Link {
  /** send one frame; `cb` once the transport has taken it (written to the socket; MQTT: PUBACK) */
  send(kind: OutKind, text: string, cb?: (err?: Error) => void): void;
  /** drop the connection now (flood, missing pong); close() on the handler follows */
  cut(code: number, reason: string): void;
  /** orderly close for stop(); resolves when the connection is gone. No handler calls follow */
  close(): Promise<void>;
}

export type Transport = (handler: LinkHandler) => Link;
