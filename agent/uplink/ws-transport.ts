import WebSocket from 'ws';
import type { Clock, Timer } from '../clock';
import type { Link, LinkHandler, Transport } from './transport';

/**
 * Protocol v1 over one WebSocket (DESIGN.md §4): a bearer token in the upgrade request, a private
 * CA for wss://, ws's maxPayload as the oversize guard (close code 1009), and a ping every
 * `pingMs` whose missing pong by the next period drops the link. Everything else (hello, resend,
 * commands) is the protocol's, in client.ts.
 */

export interface WsTransportOptions {
  url: string;
  token?: string;
  ca?: Buffer;
  maxPayload?: number;
  pingMs?: number;
}

export function wsTransport(opts: WsTransportOptions, clock: Clock): Transport {
  return (h: LinkHandler): Link => {
    const headers: Record<string, string> = {};
    if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
    const ws = new WebSocket(opts.url, {
      headers,
      ca: opts.ca,
      maxPayload: opts.maxPayload ?? 64 * 1024,
      handshakeTimeout: 10_000,
      perMessageDeflate: false,
    });
    let closing = false;
    let pingTimer: Timer | undefined;
    let awaitingPong = false;

    ws.on('open', () => {
      if (closing) return;
      pingTimer = clock.setInterval(() => {
        if (awaitingPong) {
          h.error('no pong from controller: dropping the link');
          ws.terminate();
          return;
        }
        awaitingPong = true;
        h.ping();
        ws.ping();
      }, opts.pingMs ?? 15_000);
      h.open();
    });
    ws.on('message', (data, isBinary) => {
      if (!closing) h.message(isBinary ? undefined : (data as Buffer).toString('utf8'), 'agent');
    });
    ws.on('pong', () => { awaitingPong = false; h.pong(); });
    ws.on('error', (e: Error & { code?: string }) => {
      const m = /Unexpected server response: (\d+)/.exec(e.message);
      if (m && (m[1] === '401' || m[1] === '403')) h.authFailed(Number(m[1]));
      else if (e.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') h.oversized();
      else h.error(e.message, e.code);
    });
    ws.on('close', (code, reason) => {
      pingTimer?.cancel();
      if (!closing) h.close(code, reason.toString());
    });

    return {
      send: (_kind, text, cb) => ws.send(text, cb),
      cut: (code, reason) => {
        if (code === 1006) ws.terminate();
        else ws.close(code, reason);
      },
      close: () => {
        closing = true;
        pingTimer?.cancel();
        if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
        return new Promise<void>((resolve) => {
          ws.once('close', () => resolve());
          if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
          else ws.close(1001, 'agent stopping');
          // shutdown guard only (not control logic): a peer that never completes the closing
          // handshake must not hold the agent's exit, so this uses the real timer on purpose
          setTimeout(() => ws.terminate(), 1000).unref();
        });
      },
    };
  };
}
