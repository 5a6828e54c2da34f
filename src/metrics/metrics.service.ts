import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

type QueueStats = { awaiting: number; due: number; oldest_due_seconds: number };

/** Every metric the service exports (GET /metrics), defined in one place. Label values never carry secrets or ids. */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  /** Set by SessionsService: read at scrape time for the queue gauges. */
  queueStats: () => Promise<QueueStats> = async () => ({ awaiting: 0, due: 0, oldest_due_seconds: 0 });
  private queueSnapshot: Promise<QueueStats> | undefined;

  readonly webhookEvents = new Counter({
    name: 'webhook_events_total',
    help: 'Webhooks received, by event (unknown names collapse to "unknown") and outcome (applied, duplicate, ignored, rejected)',
    labelNames: ['event', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly polls = new Counter({
    name: 'polls_total',
    help: 'session_upload_status polls, by outcome (ok, not_found, deleted, access_denied, rate_limited, unavailable, timeout, invalid_response, circuit_open)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly sessionsHealed = new Counter({
    name: 'sessions_healed_total',
    help: 'Sessions whose completion was learned by polling (the webhook never arrived)',
    registers: [this.registry],
  });

  readonly finboxRequests = new Counter({
    name: 'finbox_requests_total',
    help: 'HTTP requests to FinBox, by endpoint and status (HTTP status, or timeout / network)',
    labelNames: ['endpoint', 'status'] as const,
    registers: [this.registry],
  });

  readonly finboxLatency = new Histogram({
    name: 'finbox_request_duration_seconds',
    help: 'Latency of HTTP requests to FinBox',
    labelNames: ['endpoint'] as const,
    buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly circuitState = new Gauge({
    name: 'finbox_circuit_state',
    help: 'FinBox circuit breaker: 0 closed, 1 open, 2 half-open',
    registers: [this.registry],
  });

  readonly reconcilePasses = new Counter({
    name: 'reconcile_passes_total',
    help: 'Reconciler passes, by result (completed, budget_exhausted, stopped, access_denied, circuit_open, disabled, failed)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP requests served, by method, route pattern and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  readonly sessionsAwaiting: Gauge = new Gauge({
    name: 'sessions_awaiting_completion',
    help: 'Sessions still polled: NO_UPLOAD or IN_PROGRESS and not given up',
    registers: [this.registry],
    collect: async (): Promise<void> => this.sessionsAwaiting.set((await this.snapshot()).awaiting),
  });

  readonly sessionsDue: Gauge = new Gauge({
    name: 'sessions_due',
    help: 'Sessions whose next poll time has come',
    registers: [this.registry],
    collect: async (): Promise<void> => this.sessionsDue.set((await this.snapshot()).due),
  });

  readonly oldestDue: Gauge = new Gauge({
    name: 'oldest_due_session_age_seconds',
    help: 'How long the longest-waiting due session has been due',
    registers: [this.registry],
    collect: async (): Promise<void> => this.oldestDue.set((await this.snapshot()).oldest_due_seconds),
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  async render(): Promise<string> {
    try {
      return await this.registry.metrics();
    } finally {
      this.queueSnapshot = undefined;
    }
  }

  /** One query per scrape feeds all three queue gauges. */
  private snapshot(): Promise<QueueStats> {
    this.queueSnapshot ??= this.queueStats().catch(() => ({ awaiting: 0, due: 0, oldest_due_seconds: 0 }));
    return this.queueSnapshot;
  }
}
