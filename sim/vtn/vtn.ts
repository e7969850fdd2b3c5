import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { realClock, type Clock } from '../../agent/clock';
import {
  authErrorSchema,
  authServerInfoSchema,
  clientCredentialResponseSchema,
  objectIdSchema,
  type NotifiersResponse,
} from '../../agent/grid/openadr/spec';
import { TokenService, type Principal, type SimVtnClient } from './auth';
import { applies, GARBAGE, wrongSchemaBody, type FaultSetting, type VtnFault } from './faults';
import { issuesText, matchPath, notFound, problem, ProblemError, queryObject, readBody, type Reply } from './http';
import { MqttPublisher, WebhookSender } from './notify';
import { parseQuery } from './query';
import type { Route } from './route';
import { eventRoutes } from './routes-events';
import { notifierRoutes } from './routes-notifiers';
import { echoValue, reportRoutes } from './routes-reports';
import { venRoutes } from './routes-vens';
import { VtnState } from './state';
import { SimVtnOperator } from './operator';

/**
 * A VTN of OpenADR 3.1.0 on loopback, over real HTTP(S): OAuth2 client credentials
 * (/auth/server, /auth/token), programs, events, vens and resources, reports, subscriptions with
 * webhook notifications, /notifiers (MQTT too when given a broker). Every request body and query
 * is checked against agent/grid/openadr/spec.ts (a bad one gets a 400 problem) and so is every
 * reply it serves: a reply that fails is a bug of the simulator, recorded in `violations`, and
 * close() rejects while any is recorded, so a test that serves one fails.
 *
 * The simulator imports no agent internals beyond the clock and the specification's schemas:
 * those are the contract it is checked against, not the VEN's code.
 */

export interface SimVtnOptions {
  /** a loopback address of the suite's own range, e.g. 127.27.0.1 */
  host: string;
  /** 0 or absent: a free port */
  port?: number;
  clients: SimVtnClient[];
  /** access token lifetime, s (default 3600) */
  tokenTtlS?: number;
  /** token expiry and object timestamps; share the VEN's VirtualClock in tests */
  clock?: Clock;
  /** PEM key and certificate: serve https:// */
  tls?: { key: string | Buffer; cert: string | Buffer };
  /** default /openadr3/3.1.0 */
  basePath?: string;
  /** offer MQTT notifications through this broker (mqtt://HOST:PORT) and publish on it */
  mqttBrokerUrl?: string;
  /** Definitions-strict targeting; see TargetPolicy (default false) */
  strictTargets?: boolean;
  /** run the webhook echo challenge before creating a subscription (default false) */
  challengeCallbacks?: boolean;
  /** webhook timeout, ms (default 5000) */
  webhookTimeoutMs?: number;
  /** false: answer /auth/server with 404, as a 3.0.1 VTN does (default true) */
  authServer?: boolean;
  /** what /auth/server names as the token endpoint (default this VTN's /auth/token) */
  tokenUrl?: string;
}

export interface RequestRecord {
  at: number;
  method: string;
  path: string;
  query: string;
  status: number;
  clientId?: string;
}

const KEEP_REQUESTS = 10_000;

export class SimVtn extends SimVtnOperator {
  readonly requests: RequestRecord[] = [];
  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();
  private readonly routes: Route[];
  private readonly basePath: string;
  private readonly mqtt?: MqttPublisher;
  private fault?: FaultSetting;
  private boundPort = 0;
  private listening = false;

  constructor(private readonly opts: SimVtnOptions) {
    const clock = opts.clock ?? realClock;
    const tokens = new TokenService(opts.clients, clock, opts.tokenTtlS ?? 3600);
    const webhooks = new WebhookSender(clock, { timeoutMs: opts.webhookTimeoutMs ?? 5000 });
    const mqtt = opts.mqttBrokerUrl ? new MqttPublisher(opts.mqttBrokerUrl) : undefined;
    const roleOf = (id: string) => opts.clients.find((c) => c.id === id)?.role ?? (id === 'operator' ? 'bl' : 'ven');
    super(new VtnState(clock, { strict: opts.strictTargets ?? false }, roleOf, webhooks, mqtt), tokens, webhooks);
    this.mqtt = mqtt;
    this.basePath = (opts.basePath ?? '/openadr3/3.1.0').replace(/\/$/, '');
    const notifiers: NotifiersResponse = {
      WEBHOOK: true,
      ...(opts.mqttBrokerUrl ? { MQTT: { URIS: [opts.mqttBrokerUrl], serialization: 'JSON', authentication: { method: 'ANONYMOUS' as const } } } : {}),
    };
    const challenge = opts.challengeCallbacks ? (url: string, token: string | null | undefined) => webhooks.challenge(url, token, echoValue()) : undefined;
    this.routes = [...eventRoutes, ...venRoutes, ...reportRoutes({ challenge }), ...notifierRoutes(notifiers)];
    this.server = opts.tls ? https.createServer({ key: opts.tls.key, cert: opts.tls.cert }) : http.createServer();
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.server.on('request', (req, res) => void this.serve(req, res));
  }

  /** the API base, e.g. http://127.27.0.1:41234/openadr3/3.1.0 */
  get url(): string {
    return `${this.opts.tls ? 'https' : 'http'}://${this.opts.host}:${this.boundPort}${this.basePath}`;
  }

  get port(): number {
    return this.boundPort;
  }

  /** MQTT notifications published (with a broker) */
  get published(): MqttPublisher['published'] {
    return this.mqtt?.published ?? [];
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.boundPort || this.opts.port || 0, this.opts.host, () => {
        this.server.off('error', reject);
        this.boundPort = (this.server.address() as AddressInfo).port;
        resolve();
      });
    });
    this.listening = true;
    if (this.mqtt) await this.mqtt.ready();
  }

  /** the VTN goes away: connections refused, those open cut */
  async down(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  /** back on the same address and port, its objects kept */
  up(): Promise<void> {
    return this.listening ? Promise.resolve() : this.listen();
  }

  /** misbehave on every request (or those whose path matches) until setFault() without one */
  setFault(fault?: VtnFault, paths?: RegExp): void {
    this.fault = fault ? { fault, paths } : undefined;
  }

  async close(): Promise<void> {
    await this.down();
    await this.state.settled();
    await this.mqtt?.close();
    if (this.state.violations.length > 0) {
      throw new Error(`the simulated VTN served what its own schemas refuse: ${this.state.violations.map((v) => `${v.where}: ${v.detail}`).join(' | ')}`);
    }
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://vtn');
    const method = req.method ?? 'GET';
    const path = url.pathname.startsWith(this.basePath) ? url.pathname.slice(this.basePath.length) || '/' : undefined;
    const record: RequestRecord = { at: this.state.clock.now(), method, path: path ?? url.pathname, query: url.search, status: 0 };
    this.requests.push(record);
    if (this.requests.length > KEEP_REQUESTS) this.requests.shift();
    const fault = this.fault;
    if (path !== undefined && applies(fault, path) && fault.fault === 'hang') return;
    let reply: Reply;
    try {
      const text = await readBody(req);
      if (path === undefined) throw notFound(`no API here: the base is ${this.basePath}`);
      if (applies(fault, path)) return this.misbehave(res, record, fault.fault, method, path);
      reply = await this.answer(method, path, url.searchParams, text, req.headers, record);
    } catch (e) {
      reply = e instanceof ProblemError ? problem(e.status, e.title, e.detail, e.headers) : this.bug(`${method} ${record.path}`, e);
    }
    this.write(res, record, reply, `${method} ${record.path}`);
  }

  private async answer(method: string, path: string, search: URLSearchParams, text: string, headers: http.IncomingHttpHeaders, record: RequestRecord): Promise<Reply> {
    if (path === '/auth/server') {
      if (this.opts.authServer === false) throw notFound('no /auth/server here (a 3.0.1 VTN)');
      if (method === 'GET') return { status: 200, body: { tokenURL: this.opts.tokenUrl ?? `${this.url}/auth/token` }, schema: authServerInfoSchema };
    }
    if (path === '/auth/token' && method === 'POST') return this.token(text, headers);
    const who = this.tokens.check(headers.authorization);
    if ('reason' in who) throw new ProblemError(401, 'Unauthorized', who.reason, { 'www-authenticate': `Bearer error="invalid_token", error_description="${who.reason}"` });
    record.clientId = who.clientId;
    let body: unknown;
    if (method === 'POST' || method === 'PUT') {
      try {
        body = JSON.parse(text);
      } catch {
        throw new ProblemError(400, 'Bad Request', 'the body is not JSON');
      }
    }
    return this.dispatch(method, path, queryObject(search), body, who);
  }

  /** one API operation, for HTTP and for the operator's methods alike */
  protected override async dispatch(method: string, path: string, query: Record<string, string | string[]>, body: unknown, who: Principal): Promise<Reply> {
    let allowed = false;
    for (const r of this.routes) {
      const params = matchPath(r.path, path);
      if (!params) continue;
      allowed = true;
      if (r.method !== method) continue;
      for (const [name, value] of Object.entries(params)) {
        if (!objectIdSchema.safeParse(value).success) throw new ProblemError(400, 'Bad Request', `${name} ${JSON.stringify(value)} is not an objectID`);
      }
      return r.handle(this.state, { params, query: parseQuery(query), body, who });
    }
    throw allowed ? new ProblemError(405, 'Method Not Allowed', `${method} is not served at ${path}`) : notFound(`no endpoint ${path}`);
  }

  private token(text: string, headers: http.IncomingHttpHeaders): Reply {
    const type = String(headers['content-type'] ?? '');
    const noStore = { 'cache-control': 'no-store' };
    if (!type.startsWith('application/x-www-form-urlencoded')) {
      return { status: 400, body: { error: 'invalid_request', error_description: 'send the form application/x-www-form-urlencoded' }, schema: authErrorSchema, headers: noStore };
    }
    const out = this.tokens.issue(new URLSearchParams(text), headers.authorization);
    if (out.ok) return { status: 200, body: out.body, schema: clientCredentialResponseSchema, headers: noStore };
    return { status: out.status, body: { error: out.error, error_description: out.description }, schema: authErrorSchema, headers: noStore };
  }

  private misbehave(res: http.ServerResponse, record: RequestRecord, fault: VtnFault, method: string, path: string): void {
    if (fault === 'error') return this.write(res, record, { ...problem(500, 'Internal Server Error', 'simulated fault'), unchecked: 'fault' }, path);
    const text = fault === 'garbage' ? GARBAGE : JSON.stringify(wrongSchemaBody(method, path));
    record.status = 200;
    res.writeHead(200, { 'content-type': 'application/json' }).end(text);
  }

  private bug(where: string, e: unknown): Reply {
    this.state.violation(where, e instanceof Error ? e.stack ?? e.message : String(e));
    return problem(500, 'Internal Server Error', 'the simulated VTN failed');
  }

  private write(res: http.ServerResponse, record: RequestRecord, reply: Reply, where: string): void {
    let r = reply;
    if (!r.unchecked) {
      const check = r.schema.safeParse(r.body);
      if (!check.success) r = this.bug(`${where} -> ${r.status}`, new Error(issuesText(check.error)));
    }
    record.status = r.status;
    if (res.destroyed) return;
    res.writeHead(r.status, { 'content-type': 'application/json', ...(r.headers ?? {}) }).end(JSON.stringify(r.body));
  }
}
