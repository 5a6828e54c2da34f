import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { HttpService } from '@nestjs/axios';
import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { AxiosRequestConfig, AxiosResponse } from 'axios';
import {
  BrokenCircuitError,
  circuitBreaker,
  CircuitState,
  DelegateBackoff,
  handleWhen,
  type IBreaker,
  retry,
  wrap,
} from 'cockatiel';
import type { AppConfig } from '../config/configuration.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { parseUploadStatus, PayloadError, type UploadStatusResponse } from './finbox-payload.js';
import { FinboxError, parseRetryAfter } from './finbox.errors.js';

type Endpoint = 'session_upload_status' | 'update_webhook';

export interface FinboxResult<T> {
  data: T;
  /** The body as FinBox sent it, for the session's history. */
  raw: unknown;
  status: number;
  durationMs: number;
}

export interface FinboxHealth {
  polling: 'enabled' | 'disabled';
  circuit: 'closed' | 'open' | 'half_open';
  credentials: 'unknown' | 'accepted' | 'rejected';
  last_error: string | null;
}

export const USER_AGENT = 'finbox-session-reconciler/1.0';

/** Retry-After longer than this is not waited for inside a request: the session's own backoff takes over. */
const MAX_RETRY_AFTER_MS = 30_000;
const BREAKER_THRESHOLD = 5;
/** Added to the rate limit's one-second window, so that jitter between sending and arrival cannot push FinBox's count over the cap. */
const RATE_MARGIN_MS = 50;

/**
 * The process-wide rate limit: at most `limit` sends in any `windowMs`,
 * counted from when each send was really let go (so a stalled event loop
 * cannot release a queue of timers in a bunch), granted in the order asked.
 * Sends are also kept at least half the average spacing apart, so that a
 * window's allowance goes out spread over it rather than as one burst that
 * FinBox might count against the next second. For FINBOX_MAX_RPS=10: at most
 * 10 in any 1050 ms (9.5/s sustained); a fractional cap counts whole requests
 * (0.5/s: 1 in any 2050 ms).
 */
export class RateLimiter {
  /** When the last `limit` sends were let go, oldest first. */
  private readonly sent: number[] = [];
  private readonly minGapMs: number;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    readonly limit: number,
    readonly windowMs: number,
  ) {
    this.minGapMs = windowMs / limit / 2;
  }

  static perSecond(maxRps: number): RateLimiter {
    const limit = Math.max(1, Math.floor(maxRps));
    return new RateLimiter(limit, (1000 * limit) / maxRps + RATE_MARGIN_MS);
  }

  /** Resolves when the caller may send; rejects (and gives up its turn) once `signal` is aborted. */
  acquire(signal: AbortSignal): Promise<void> {
    const turn = this.queue.then(async () => {
      signal.throwIfAborted();
      for (let wait = this.waitMs(); wait > 0; wait = this.waitMs()) await sleep(wait, undefined, { signal });
      this.sent.push(performance.now());
      if (this.sent.length > this.limit) this.sent.shift();
    });
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  private waitMs(): number {
    const now = performance.now();
    const gap = this.sent.length === 0 ? 0 : this.sent[this.sent.length - 1] + this.minGapMs - now;
    const window = this.sent.length < this.limit ? 0 : this.sent[0] + this.windowMs - now;
    return Math.max(gap, window);
  }
}

/**
 * Opens after BREAKER_THRESHOLD consecutive failed attempts, or at once when
 * FinBox rejects the credentials (`openNow`).
 */
class FinboxBreaker implements IBreaker {
  state = 0;
  openNow = false;
  success(): void {
    this.state = 0;
  }
  failure(): boolean {
    this.state += 1;
    const open = this.openNow || this.state >= BREAKER_THRESHOLD;
    this.openNow = false;
    return open;
  }
}

/**
 * The only code that speaks HTTP to FinBox (CONTRACT §5).
 *
 * Every request goes through, from outside in: retries (transient failures only,
 * exponential backoff with jitter, honouring Retry-After) → circuit breaker →
 * the process-wide rate limit (never more than FINBOX_MAX_RPS in any one-second
 * window) → one HTTP attempt with its own timeout.
 */
@Injectable()
export class FinboxClient implements OnApplicationShutdown {
  private readonly logger = new Logger(FinboxClient.name);
  private readonly config: AppConfig['finbox'];
  private readonly breaker = new FinboxBreaker();
  private readonly policy;
  private readonly circuit;
  /** Aborted on shutdown: rejects requests still waiting for a send slot, cancels those in flight, stops retries. */
  private readonly shutdown = new AbortController();
  /** FINBOX_MAX_RPS for the whole process: every attempt, retries included, waits for its slot. */
  private readonly rateLimit: RateLimiter;
  private readonly agents = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };
  private credentials: FinboxHealth['credentials'] = 'unknown';
  private openedAt = 0;
  private lastError: string | null = null;

  constructor(
    private readonly http: HttpService,
    config: ConfigService<AppConfig, true>,
    private readonly metrics: MetricsService,
  ) {
    this.config = config.get('finbox', { infer: true });
    const { maxRps, maxAttempts, breakerCooldownMs } = this.config;

    this.rateLimit = RateLimiter.perSecond(maxRps);

    this.circuit = circuitBreaker(
      handleWhen((error) => error instanceof FinboxError && (error.transient || error.kind === 'access_denied')),
      { halfOpenAfter: breakerCooldownMs, breaker: this.breaker },
    );
    this.circuit.onBreak(() => (this.openedAt = Date.now()));
    this.circuit.onStateChange((state) => {
      this.metrics.circuitState.set(state === CircuitState.Open ? 1 : state === CircuitState.HalfOpen ? 2 : 0);
      if (state === CircuitState.Open) this.logger.warn(`FinBox circuit opened: ${this.lastError ?? 'repeated failures'}`);
      if (state === CircuitState.Closed) this.logger.log('FinBox circuit closed');
    });
    const retries = retry(
      handleWhen(
        (error) => error instanceof FinboxError && error.transient && (error.retryAfterMs ?? 0) <= MAX_RETRY_AFTER_MS,
      ),
      {
        // cockatiel 3 counts retries here, after the first attempt: FINBOX_MAX_ATTEMPTS=3 is 3 HTTP requests.
        maxAttempts: maxAttempts - 1,
        backoff: new DelegateBackoff((context) => {
          const error = 'error' in context.result ? context.result.error : undefined;
          if (error instanceof FinboxError && error.retryAfterMs !== null) return error.retryAfterMs;
          const ceiling = Math.min(5_000, 250 * 2 ** (context.attempt - 1));
          return ceiling / 2 + Math.random() * (ceiling / 2);
        }),
      },
    );
    this.policy = wrap(retries, this.circuit);
  }

  /** Polling needs FINBOX_API_KEY and FINBOX_SERVER_HASH. */
  get enabled(): boolean {
    return this.config.credentials !== undefined;
  }

  /** True while the breaker refuses calls (open and still cooling down). */
  isCircuitOpen(): boolean {
    return this.health().circuit === 'open';
  }

  health(): FinboxHealth {
    const state = this.circuit.state;
    let circuit: FinboxHealth['circuit'] = state === CircuitState.HalfOpen ? 'half_open' : 'closed';
    if (state === CircuitState.Open) {
      // Once the cool-down is over the next call is let through as a trial.
      circuit = Date.now() - this.openedAt >= this.config.breakerCooldownMs ? 'half_open' : 'open';
    }
    return { polling: this.enabled ? 'enabled' : 'disabled', circuit, credentials: this.credentials, last_error: this.lastError };
  }

  /** `deadline` (optional) ends the call, retries and waits included: a poll never outlives its lease. */
  async getUploadStatus(sessionId: string, deadline?: AbortSignal): Promise<FinboxResult<UploadStatusResponse>> {
    const result = await this.call(
      'session_upload_status',
      { method: 'GET', url: this.url(`session_data/${encodeURIComponent(sessionId)}/session_upload_status/`) },
      deadline,
    );
    try {
      const data = parseUploadStatus(result.raw);
      if (data.session_id !== sessionId.toLowerCase()) {
        throw new PayloadError([{ field: 'session_id', problem: 'does not match the session polled' }]);
      }
      return { ...result, data };
    } catch (error) {
      if (!(error instanceof PayloadError)) throw error;
      throw new FinboxError('invalid_response', `Unreadable upload status: ${error.message}`, result.status);
    }
  }

  /** Registers the webhook URL; `webhook_mode` is always sent (omitting it may reset FinBox to net-banking-only events). */
  async updateWebhook(webhookUrl: string, webhookMode: number): Promise<FinboxResult<unknown>> {
    return this.call('update_webhook', {
      method: 'POST',
      url: this.url('session_data/update_webhook/'),
      data: { webhook_url: webhookUrl, webhook_mode: webhookMode },
    });
  }

  onApplicationShutdown(): void {
    this.shutdown.abort(new Error('the application is shutting down'));
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  private url(path: string): string {
    return `${this.config.baseUrl}/${this.config.apiVersion}/${path}`;
  }

  private async call(endpoint: Endpoint, request: AxiosRequestConfig, deadline?: AbortSignal): Promise<FinboxResult<unknown>> {
    const credentials = this.config.credentials;
    if (!credentials) throw new FinboxError('not_configured', 'FINBOX_API_KEY and FINBOX_SERVER_HASH are not set');
    const signal = deadline ? AbortSignal.any([this.shutdown.signal, deadline]) : this.shutdown.signal;
    try {
      return await this.policy.execute(() => this.attempt(endpoint, request, credentials, signal), signal);
    } catch (error) {
      if (error instanceof BrokenCircuitError) {
        throw new FinboxError('circuit_open', `FinBox circuit is open (${this.lastError ?? 'repeated failures'})`);
      }
      if (this.shutdown.signal.aborted) {
        throw new FinboxError('unavailable', 'FinBox call cancelled: the application is shutting down');
      }
      if (deadline?.aborted && !(error instanceof FinboxError)) {
        throw new FinboxError('timeout', 'FinBox did not answer before the call had to end (its lease ran out)');
      }
      throw error;
    }
  }

  /**
   * One HTTP request, classified: a FinboxResult for 2xx, a FinboxError for everything else.
   * It waits for its send slot first; its timeout and its latency count from when it is sent.
   */
  private async attempt(
    endpoint: Endpoint,
    request: AxiosRequestConfig,
    credentials: { apiKey: string; serverHash: string },
    signal: AbortSignal,
  ): Promise<FinboxResult<unknown>> {
    await this.rateLimit.acquire(signal); // aborted: `call` says why
    const started = performance.now();
    let response: AxiosResponse;
    try {
      response = await this.http.axiosRef.request({
        ...request,
        signal: AbortSignal.any([AbortSignal.timeout(this.config.timeoutMs), signal]),
        headers: {
          'x-api-key': credentials.apiKey,
          'server-hash': credentials.serverHash,
          'user-agent': USER_AGENT,
          accept: 'application/json',
          'content-type': 'application/json',
        },
        timeout: this.config.timeoutMs,
        validateStatus: () => true,
        httpAgent: this.agents.http,
        httpsAgent: this.agents.https,
        maxRedirects: 0,
      });
    } catch (error) {
      if (signal.aborted) throw error; // shutdown or the caller's deadline: `call` says which
      const failure = networkFailure(error, this.config.timeoutMs);
      this.observe(endpoint, failure.kind === 'timeout' ? 'timeout' : 'network', started);
      throw this.remember(failure);
    }
    this.observe(endpoint, String(response.status), started);
    const durationMs = Math.round(performance.now() - started);
    if (response.status >= 200 && response.status < 300) {
      if (this.credentials !== 'accepted') this.credentials = 'accepted';
      this.lastError = null;
      return { data: response.data, raw: response.data, status: response.status, durationMs };
    }
    const failure = httpFailure(response);
    if (failure.kind === 'access_denied') {
      this.credentials = 'rejected';
      this.breaker.openNow = true;
      this.logger.error(`FinBox rejected the credentials (HTTP ${response.status}); polling stops until they are accepted`);
    }
    throw this.remember(failure);
  }

  private remember(error: FinboxError): FinboxError {
    this.lastError = error.message;
    return error;
  }

  private observe(endpoint: Endpoint, status: string, started: number): void {
    this.metrics.finboxRequests.inc({ endpoint, status });
    this.metrics.finboxLatency.observe({ endpoint }, (performance.now() - started) / 1000);
  }
}

function errorCode(body: unknown): string | undefined {
  const code = (body as { error?: { code?: unknown } } | null)?.error?.code;
  return typeof code === 'string' ? code : undefined;
}

function isJsonObject(body: unknown): boolean {
  return typeof body === 'object' && body !== null;
}

function httpFailure(response: AxiosResponse): FinboxError {
  const { status, data } = response;
  const code = errorCode(data);
  const retryAfter = parseRetryAfter(response.headers['retry-after']);
  // A 404/410 that is not FinBox's JSON (a proxy's HTML page, a wrong base URL) must not end a session.
  if (status === 404 && isJsonObject(data) && (code === undefined || code === 'SESSION_NOT_FOUND')) {
    return new FinboxError('not_found', 'FinBox: session not found (404)', status);
  }
  if (status === 410 && isJsonObject(data) && (code === undefined || code === 'SESSION_DELETED')) {
    return new FinboxError('deleted', 'FinBox: session deleted (410)', status);
  }
  if (status === 401 || status === 403) {
    return new FinboxError('access_denied', `FinBox: access denied (${status}${code ? ` ${code}` : ''})`, status);
  }
  if (status === 429) return new FinboxError('rate_limited', 'FinBox: rate limited (429)', status, retryAfter);
  if (status >= 500) return new FinboxError('unavailable', `FinBox: server error (${status})`, status, retryAfter);
  return new FinboxError('invalid_response', `FinBox: unexpected HTTP ${status}${code ? ` ${code}` : ''}`, status);
}

function networkFailure(error: unknown, timeoutMs: number): FinboxError {
  const { code, name } = error as { code?: string; name?: string };
  if (code === 'ECONNABORTED' || code === 'ETIMEDOUT' || code === 'ERR_CANCELED' || name === 'TimeoutError' || name === 'CanceledError') {
    return new FinboxError('timeout', `FinBox: no answer within ${timeoutMs} ms`);
  }
  return new FinboxError('unavailable', `FinBox: connection failed (${code ?? name ?? 'network error'})`);
}
