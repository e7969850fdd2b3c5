import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../log';
import { parseJson } from './auth';
import { notificationSchema, type Notification } from './spec';

/**
 * The webhook the VTN calls back (Definitions, "Subscriptions" and "Webhooks"): a local HTTP
 * listener that answers the VTN's `GET …?echo=` challenge with the echo, and takes a POSTed
 * notification only with the subscription's own bearer token. A notification is a hint, never
 * an order: it starts an immediate poll, and only what the VTN's API then answers is obeyed (a
 * forged or replayed notification can make the VEN ask again, nothing more).
 */

export const NOTIFY_PATH = '/openadr/notify';
/** a notification carries one object; nothing a VTN sends is near this */
const MAX_NOTIFICATION_BYTES = 256 * 1024;

export interface WebhookStats {
  received: number;
  refused: number;
}

export class WebhookListener {
  readonly stats: WebhookStats = { received: 0, refused: 0 };
  /** what the subscription tells the VTN to send as `Authorization: Bearer …` */
  readonly bearerToken = crypto.randomBytes(24).toString('hex');
  private server?: http.Server;

  constructor(
    private readonly listen: string,
    private readonly publicBase: string | undefined,
    private readonly onNotification: (n: Notification) => void,
    private readonly log: Logger,
  ) {}

  /** bind the listener; rejects when the address cannot be had */
  async start(): Promise<void> {
    const i = this.listen.lastIndexOf(':');
    const host = this.listen.slice(0, i).replace(/^\[|\]$/g, '');
    const port = Number(this.listen.slice(i + 1));
    const server = http.createServer((req, res) => this.handle(req, res));
    server.headersTimeout = 10_000;
    server.requestTimeout = 15_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => { server.off('error', reject); resolve(); });
    });
    this.server = server;
  }

  /** the callbackUrl for subscriptions: notify.url (a proxy's public address) or this listener */
  get callbackUrl(): string {
    const base = this.publicBase ?? (() => {
      const a = this.server?.address() as AddressInfo | undefined;
      const host = a ? (a.family === 'IPv6' ? `[${a.address}]` : a.address) : this.listen;
      return `http://${host}:${a?.port ?? ''}`;
    })();
    return `${base.replace(/\/+$/, '')}${NOTIFY_PATH}`;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const reply = (status: number, body = '') => {
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(body);
    };
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== NOTIFY_PATH) return reply(404);
    if (req.method === 'GET') {
      // the VTN's proof that the callback is live (Definitions 3.1.0, "Webhooks"): echo it back
      const echo = url.searchParams.get('echo');
      if (echo === null || echo.length > 512) return reply(400);
      return reply(200, echo);
    }
    if (req.method !== 'POST') return reply(405);
    if (!this.authorized(req.headers.authorization)) {
      this.stats.refused++;
      this.log.warn({ from: req.socket.remoteAddress }, 'openadr notification refused: wrong or missing bearer token');
      req.resume();
      return reply(401);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_NOTIFICATION_BYTES) {
        reply(413);
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (size > MAX_NOTIFICATION_BYTES) return;
      const n = notificationSchema.safeParse(parseJson(Buffer.concat(chunks).toString('utf8')));
      if (!n.success) {
        this.stats.refused++;
        this.log.warn({ issue: n.error.issues[0]?.message }, 'openadr notification refused: not a notification object');
        return reply(400);
      }
      this.stats.received++;
      reply(200);
      this.onNotification(n.data);
    });
    req.on('error', () => undefined);
  }

  private authorized(header: string | undefined): boolean {
    const m = /^Bearer\s+(\S+)$/i.exec(header ?? '');
    if (!m) return false;
    const a = crypto.createHash('sha256').update(m[1]).digest();
    const b = crypto.createHash('sha256').update(this.bearerToken).digest();
    return crypto.timingSafeEqual(a, b);
  }
}
