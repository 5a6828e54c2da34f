/**
 * A simulator of FinBox BankConnect's upload-status and update-webhook
 * endpoints, with a control API (/_control) to create sessions, fire
 * webhooks, inject faults and read request statistics.
 *
 *   const sandbox = await startSandbox();
 *   const { session_id } = sandbox.createSession({ complete_after_ms: 200 });
 *   // FINBOX_BASE_URL = sandbox.baseUrl
 */
import { request as httpRequest, STATUS_CODES } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import {
  createSimSession,
  enrichmentPayload,
  expiresAt,
  notificationPayload,
  pollPayload,
  uploadStatusAt,
  type SimSession,
} from './session.js';
import { StatsRecorder } from './stats.js';
import {
  SandboxError,
  type Endpoint,
  type Fault,
  type RegisteredWebhook,
  type Sandbox,
  type SandboxOptions,
  type SandboxStats,
  type SessionSpec,
  type SessionView,
  type WebhookDelivery,
  type WebhookEvent,
  type WebhookFaults,
} from './types.js';
import { parseFault, parseLatency, parseSessionSpec, parseWebhookFaults } from './validation.js';

export * from './types.js';

const EVENT_NAMES: Record<WebhookEvent, string> = {
  completion: 'SESSION_REQUIREMENT_COMPLETION_NOTIFICATION',
  expiry: 'SESSION_EXPIRY_NOTIFICATION',
  enrichment: 'ENRICHMENT_NOTIFICATION',
};
const WEBHOOK_TIMEOUT_MS = 10_000;
/** setTimeout's limit; longer delays are chained (sessions may last 30 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** FinBox's own error bodies; other statuses get a generic one. */
const ERROR_BODIES: Record<number, object> = {
  401: { detail: 'Invalid authentication credentials' },
  403: { error: { code: 'ACCESS_DENIED', message: 'Authentication credentials were not provided' } },
  404: { error: { code: 'SESSION_NOT_FOUND', message: 'The provided session ID is invalid' } },
  410: { error: { code: 'SESSION_DELETED', message: 'The provided session ID has been deleted' } },
};

/** e.g. 503 → {"error": {"code": "SERVICE_UNAVAILABLE", "message": "Service Unavailable"}} */
function genericError(status: number, message?: string): object {
  const reason = STATUS_CODES[status] ?? 'Error';
  return { error: { code: reason.toUpperCase().replace(/\W+/g, '_'), message: message ?? reason } };
}

function errorBody(status: number): object {
  return ERROR_BODIES[status] ?? genericError(status);
}

function invalidRequest(message: string): object {
  return { error: { code: 'INVALID_REQUEST', message } };
}

function isHttpUrl(value: unknown): value is string {
  if (typeof value !== 'string' || !URL.canParse(value)) return false;
  const { protocol } = new URL(value);
  return protocol === 'http:' || protocol === 'https:';
}

/** The webhook URL without its query, which may hold the receiver's token. */
function safeUrl(url: string): string {
  const { origin, pathname } = new URL(url);
  return origin + pathname;
}

/**
 * POSTs JSON on a connection of its own (no keep-alive, so nothing outlives
 * close()). Resolves to the HTTP status, or 0 on a connection error, timeout
 * or abort; never rejects.
 */
function postJson(url: string, body: string, signal: AbortSignal): Promise<number> {
  const target = new URL(url);
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve) => {
    const request = send(
      target,
      {
        method: 'POST',
        agent: false,
        signal,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (response) => {
        response.on('error', () => {}); // the body is not used: ignore its errors and drain it
        response.resume();
        resolve(response.statusCode ?? 0);
      },
    );
    request.on('error', () => resolve(0));
    request.end(body);
  });
}

function isWebhookEvent(value: string): value is WebhookEvent {
  return Object.hasOwn(EVENT_NAMES, value);
}

interface ActiveFault {
  fault: Fault;
  /** Matching requests left; undefined: until cleared. */
  remaining?: number;
}

class FinboxSandbox implements Sandbox {
  baseUrl = '';
  controlUrl = '';
  readonly apiKey: string;
  readonly serverHash: string;

  private readonly app: FastifyInstance;
  private readonly basePath: string;
  private readonly authErrorStyle: 'error' | 'detail';
  private readonly log: (line: string) => void;
  private latencyMs: number;
  private webhookUrl: string | undefined;
  private webhookFaults: WebhookFaults;
  private registered: RegisteredWebhook | undefined;
  private readonly sessions = new Map<string, SimSession>();
  private faults: ActiveFault[] = [];
  private readonly statsRecorder = new StatsRecorder();
  private deliveryLog: WebhookDelivery[] = [];
  /** Aborted on close: cancels latency waits and webhook requests in flight. */
  private readonly closing = new AbortController();

  constructor(options: SandboxOptions) {
    this.apiKey = options.apiKey ?? 'sandbox-api-key';
    this.serverHash = options.serverHash ?? 'sandbox-server-hash';
    this.basePath = (options.basePath ?? '/bank-connect').replace(/\/+$/, '');
    this.authErrorStyle = options.authErrorStyle ?? 'error';
    this.log = options.log ?? (() => {});
    this.latencyMs = parseLatency(options.latencyMs ?? 0, 'latencyMs');
    this.setWebhookUrl(options.webhookUrl);
    this.webhookFaults = parseWebhookFaults(options.webhookFaults, 'webhookFaults');

    // forceCloseConnections: close() also ends hanging requests and keep-alive sockets.
    this.app = Fastify({ logger: false, forceCloseConnections: true, routerOptions: { ignoreTrailingSlash: true } });
    this.app.register(async (api) => this.registerFinboxApi(api), { prefix: this.basePath });
    this.app.register(async (control) => this.registerControlApi(control), { prefix: '/_control' });
  }

  async listen(port: number, host: string): Promise<void> {
    await this.app.listen({ port, host });
    const { port: actualPort } = this.app.server.address() as AddressInfo;
    const wildcard = host === '0.0.0.0' || host === '::';
    const urlHost = wildcard ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
    const origin = `http://${urlHost}:${actualPort}`;
    this.baseUrl = origin + this.basePath;
    this.controlUrl = `${origin}/_control`;
  }

  // ---- sessions -----------------------------------------------------------

  createSession(spec: SessionSpec = {}): { session_id: string; expires_at: string } {
    const session = createSimSession(parseSessionSpec(spec), Date.now());
    if (this.sessions.has(session.id)) throw new SandboxError(409, `session ${session.id} already exists`);
    this.sessions.set(session.id, session);
    this.scheduleTimeline(session);
    return { session_id: session.id, expires_at: new Date(expiresAt(session)).toISOString() };
  }

  deleteSession(id: string): void {
    const session = this.session(id);
    session.deleted = true;
    this.clearTimers(session);
  }

  describeSession(id: string): SessionView {
    const session = this.session(id);
    const at = (offsetMs: number | null) =>
      offsetMs === null ? null : new Date(session.createdAt + offsetMs).toISOString();
    const { completesAfterMs, enrichmentAfterMs } = session;
    return {
      session_id: session.id,
      upload_status: session.deleted ? 'DELETED' : uploadStatusAt(session, Date.now()),
      created_at: new Date(session.createdAt).toISOString(),
      in_progress_at: new Date(session.createdAt + session.inProgressAfterMs).toISOString(),
      completes_at: at(completesAfterMs),
      expires_at: new Date(expiresAt(session)).toISOString(),
      enrichment_at: at(
        completesAfterMs !== null && enrichmentAfterMs !== null ? completesAfterMs + enrichmentAfterMs : null,
      ),
      webhooks: this.effectiveWebhookFaults(session),
      accounts: session.accounts.map(({ account_id, account_number, bank_name, statement_id }) => ({
        account_id,
        account_number,
        bank_name,
        statement_id,
      })),
    };
  }

  private session(id: string): SimSession {
    const session = this.sessions.get(id);
    if (!session) throw new SandboxError(404, `unknown session ${id}`);
    return session;
  }

  /** Completion (then enrichment) or, if the session does not complete first, expiry. */
  private scheduleTimeline(session: SimSession): void {
    const { completesAfterMs, enrichmentAfterMs } = session;
    if (completesAfterMs === null) {
      this.schedule(session, session.expireAfterMs, () => this.dispatch(session, 'expiry'));
      return;
    }
    this.schedule(session, completesAfterMs, () => {
      this.dispatch(session, 'completion');
      if (enrichmentAfterMs !== null) {
        this.schedule(session, enrichmentAfterMs, () => this.dispatch(session, 'enrichment'));
      }
    });
  }

  /** An unref'd timer owned by the session, so delete and close can cancel it. */
  private schedule(session: SimSession, delayMs: number, run: () => void): void {
    const step = Math.min(delayMs, MAX_TIMER_MS);
    const timer = setTimeout(() => {
      session.timers.delete(timer);
      if (delayMs > step) this.schedule(session, delayMs - step, run);
      else run();
    }, step);
    timer.unref();
    session.timers.add(timer);
  }

  private clearTimers(session: SimSession): void {
    for (const timer of session.timers) clearTimeout(timer);
    session.timers.clear();
  }

  // ---- webhooks -----------------------------------------------------------

  setWebhookUrl(url: string | undefined): void {
    if (url !== undefined && !isHttpUrl(url)) throw new SandboxError(400, 'url must be an http(s) URL');
    this.webhookUrl = url;
  }

  setWebhookFaults(faults: WebhookFaults): void {
    this.webhookFaults = parseWebhookFaults(faults, 'webhook faults');
  }

  registeredWebhook(): RegisteredWebhook | undefined {
    return this.registered && { ...this.registered };
  }

  deliveries(): WebhookDelivery[] {
    return this.deliveryLog.map((delivery) => ({ ...delivery }));
  }

  async fireWebhook(sessionId: string, event: WebhookEvent): Promise<number> {
    if (!isWebhookEvent(event)) {
      throw new SandboxError(400, `event must be one of ${Object.keys(EVENT_NAMES).join(', ')}`);
    }
    const session = this.session(sessionId);
    const url = this.webhookUrl;
    if (url === undefined) throw new SandboxError(409, 'no webhook URL is set');
    return this.send(url, session.id, EVENT_NAMES[event], this.webhookBody(session, event), false);
  }

  private effectiveWebhookFaults(session: SimSession): WebhookFaults {
    return { ...this.webhookFaults, ...session.webhooks };
  }

  private webhookBody(session: SimSession, event: WebhookEvent): object {
    return event === 'enrichment' ? enrichmentPayload(session) : notificationPayload(session, event, Date.now());
  }

  /** Sends a timeline event, honouring the webhook faults. */
  private dispatch(session: SimSession, event: WebhookEvent): void {
    const eventName = EVENT_NAMES[event];
    const faults = this.effectiveWebhookFaults(session);
    const url = this.webhookUrl;
    if (url === undefined) {
      this.log(`webhook ${eventName} session=${session.id} not sent: no webhook URL`);
      return;
    }
    if (faults.drop) {
      const at = new Date().toISOString();
      this.deliveryLog.push({ session_id: session.id, event_name: eventName, status: -1, at, duplicate: false });
      this.log(`webhook ${eventName} session=${session.id} dropped`);
      return;
    }
    const body = this.webhookBody(session, event); // the state at the event, even when sent later
    const sendAll = async () => {
      await this.send(url, session.id, eventName, body, false);
      if (faults.duplicate) await this.send(url, session.id, eventName, body, true);
    };
    if (faults.delayMs) this.schedule(session, faults.delayMs, () => void sendAll());
    else void sendAll();
  }

  /** POSTs one webhook and records the attempt; never throws. */
  private async send(
    url: string,
    sessionId: string,
    eventName: string,
    body: object,
    duplicate: boolean,
  ): Promise<number> {
    const at = new Date().toISOString();
    const started = performance.now();
    const signal = AbortSignal.any([this.closing.signal, AbortSignal.timeout(WEBHOOK_TIMEOUT_MS)]);
    const status = await postJson(url, JSON.stringify(body), signal);
    if (this.closing.signal.aborted) return status; // cancelled by close(): not an attempt worth recording
    this.deliveryLog.push({ session_id: sessionId, event_name: eventName, status, at, duplicate });
    const ms = Math.round(performance.now() - started);
    this.log(
      `webhook ${eventName} session=${sessionId}${duplicate ? ' (duplicate)' : ''} -> ${safeUrl(url)} ` +
        `${status || 'connection error'} ${ms} ms`,
    );
    return status;
  }

  // ---- faults, latency, stats ---------------------------------------------

  addFault(fault: Fault): void {
    const parsed = parseFault(fault);
    this.faults.push({ fault: parsed, remaining: parsed.times });
  }

  clearFaults(): void {
    this.faults = [];
  }

  setLatency(ms: number): void {
    this.latencyMs = parseLatency(ms);
  }

  stats(): SandboxStats {
    return this.statsRecorder.snapshot();
  }

  resetStats(): void {
    this.statsRecorder.reset();
  }

  reset(): void {
    this.resetStats();
    this.clearFaults();
    this.deliveryLog = [];
  }

  /** The first fault matching the request, used up by one if it has a count. */
  private takeFault(endpoint: Endpoint, sessionId: string | undefined): Fault | undefined {
    const index = this.faults.findIndex(
      ({ fault }) =>
        (fault.endpoint === undefined || fault.endpoint === endpoint) &&
        (fault.session_id === undefined || fault.session_id === sessionId),
    );
    if (index < 0) return undefined;
    const active = this.faults[index];
    if (active.remaining !== undefined && --active.remaining === 0) this.faults.splice(index, 1);
    return active.fault;
  }

  async close(): Promise<void> {
    if (this.closing.signal.aborted) return;
    for (const session of this.sessions.values()) this.clearTimers(session);
    this.closing.abort();
    await this.app.close();
  }

  // ---- HTTP: FinBox API ---------------------------------------------------

  private registerFinboxApi(api: FastifyInstance): void {
    // Malformed bodies (bad JSON, wrong content type) answer like FinBox's validation errors.
    api.setErrorHandler((error: FastifyError, _request, reply) => {
      const status = error.statusCode !== undefined && error.statusCode < 500 ? error.statusCode : 500;
      return reply.code(status).send(status < 500 ? invalidRequest(error.message) : errorBody(status));
    });

    api.get<{ Params: { id: string } }>(
      '/v1/session_data/:id/session_upload_status/',
      { onRequest: this.gate('upload_status') },
      (request, reply) => {
        const session = this.sessions.get(request.params.id);
        if (!session) return reply.code(404).send(errorBody(404));
        if (session.deleted) return reply.code(410).send(errorBody(410));
        return reply.send(pollPayload(session, Date.now()));
      },
    );

    api.post('/v1/session_data/update_webhook/', { onRequest: this.gate('update_webhook') }, (request, reply) => {
      const body = (request.body ?? {}) as { webhook_url?: unknown; webhook_mode?: unknown };
      if (!isHttpUrl(body.webhook_url)) {
        return reply.code(400).send(invalidRequest('webhook_url must be a valid http(s) URL'));
      }
      this.registered = { webhook_url: body.webhook_url, webhook_mode: body.webhook_mode };
      this.webhookUrl = body.webhook_url;
      return reply.send({ message: 'success' });
    });
  }

  /**
   * What happens to every FinBox API request before its handler, in order:
   * counted in the stats, faults, latency, authentication. Faults come before
   * authentication so that an injected 401/403 works with good credentials.
   */
  private gate(endpoint: Endpoint) {
    return async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
      const sessionId = endpoint === 'upload_status' ? (request.params as { id: string }).id : undefined;
      const started = performance.now();
      const leave = this.statsRecorder.arrive(endpoint, sessionId);
      // Set for requests that never get an HTTP answer; recorded when decided.
      let outcome: 'hang' | 'reset' | undefined;
      reply.raw.once('close', () => {
        leave();
        const result = outcome ?? (reply.raw.writableFinished ? String(reply.raw.statusCode) : 'aborted');
        if (outcome === undefined) this.statsRecorder.recordOutcome(result);
        this.log(`${request.method} ${request.url} ${result} ${Math.round(performance.now() - started)} ms`);
      });

      const fault = this.takeFault(endpoint, sessionId);
      if (fault?.type === 'hang') {
        outcome = 'hang';
        this.statsRecorder.recordOutcome(outcome);
        return reply.hijack(); // never answered; the socket stays open until the client or close() ends it
      }

      const delayMs = this.latencyMs + (fault?.type === 'latency' ? (fault.latency_ms ?? 0) : 0);
      if (delayMs > 0) {
        try {
          await sleep(delayMs, undefined, { signal: this.closing.signal, ref: false });
        } catch {
          reply.hijack(); // the sandbox is closing: drop the request
          request.raw.socket.destroy();
          return reply;
        }
      }

      if (fault?.type === 'reset') {
        outcome = 'reset';
        this.statsRecorder.recordOutcome(outcome);
        reply.hijack();
        request.raw.socket.destroy();
        return reply;
      }
      if (fault?.type === 'status' && fault.status !== undefined) {
        if (fault.retry_after !== undefined) reply.header('retry-after', fault.retry_after);
        return reply.code(fault.status).send(errorBody(fault.status));
      }

      if (request.headers['x-api-key'] !== this.apiKey || request.headers['server-hash'] !== this.serverHash) {
        const status = this.authErrorStyle === 'detail' ? 401 : 403;
        return reply.code(status).send(errorBody(status));
      }
      return undefined;
    };
  }

  // ---- HTTP: control API --------------------------------------------------

  private registerControlApi(control: FastifyInstance): void {
    // SandboxError carries its status; Fastify's own errors (bad JSON...) too.
    control.setErrorHandler((error: FastifyError, _request, reply) => {
      const status = error.statusCode ?? 500;
      return reply.code(status).send(genericError(status, error.message));
    });
    control.addHook('onResponse', async (request, reply) => {
      this.log(`control ${request.method} ${request.url} ${reply.statusCode}`);
    });

    type IdParams = { Params: { id: string } };
    control.post('/sessions', (request, reply) =>
      reply.code(201).send(this.createSession(request.body as SessionSpec)),
    );
    control.get<IdParams>('/sessions/:id', (request) => this.describeSession(request.params.id));
    control.post<IdParams>('/sessions/:id/delete', (request) => {
      this.deleteSession(request.params.id);
      return { session_id: request.params.id, deleted: true };
    });
    control.post<{ Params: { id: string; event: string } }>('/sessions/:id/webhooks/:event', async (request) => {
      const { id, event } = request.params;
      return { status: await this.fireWebhook(id, event as WebhookEvent) };
    });

    control.post('/faults', (request, reply) => {
      this.addFault(request.body as Fault);
      return reply.code(201).send({ faults: this.faults.length });
    });
    control.delete('/faults', () => {
      this.clearFaults();
      return { faults: 0 };
    });
    control.put('/latency', (request) => {
      this.latencyMs = parseLatency((request.body as { latency_ms?: unknown } | undefined)?.latency_ms);
      return { latency_ms: this.latencyMs };
    });

    control.get('/webhook', () => ({
      url: this.webhookUrl ?? null,
      faults: this.webhookFaults,
      registered: this.registered ?? null,
    }));
    // {url, drop?, duplicate?, delay_ms?}: url null clears it, an absent url keeps it; the faults are replaced.
    control.put('/webhook', (request) => {
      const body = (request.body ?? {}) as { url?: string | null };
      const faults = parseWebhookFaults(body, 'body');
      if (body.url !== undefined) this.setWebhookUrl(body.url ?? undefined);
      this.setWebhookFaults(faults);
      return { url: this.webhookUrl ?? null, faults: this.webhookFaults };
    });

    control.get('/stats', () => this.stats());
    control.post('/reset', () => {
      this.reset();
      return { reset: true };
    });
    control.get('/deliveries', () => this.deliveries());
  }
}

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const sandbox = new FinboxSandbox(options);
  await sandbox.listen(options.port ?? 0, options.host ?? '127.0.0.1');
  return sandbox;
}
