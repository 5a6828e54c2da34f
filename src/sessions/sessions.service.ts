import { createHash } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { AppError, ErrorCode } from '../common/errors.js';
import type { AppConfig } from '../config/configuration.js';
import {
  parseWebhook,
  PayloadError,
  sessionIdOf,
  type UploadStatusResponse,
} from '../finbox/finbox-payload.js';
import { FinboxClient } from '../finbox/finbox.client.js';
import { FinboxError, type FinboxFailure } from '../finbox/finbox.errors.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { nextPoll } from '../reconciler/poll-schedule.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { instantOf, type ListEventsQuery, type ListSessionsQuery, type RegisterSessionDto } from './sessions.dto.js';
import { type Observation, SessionsRepository } from './sessions.repository.js';
import { type SessionEventPageView, type SessionPageView, type SessionView, toEventView, toSessionView } from './session.view.js';

/** The session a poll is for, with what its schedule depends on. */
export interface PollTarget {
  session_id: string;
  tracked_since: Date;
  expires_at: Date | null;
  poll_attempts: number;
  /** The reconciler's lease; null for an on-demand reconcile. */
  lease_token: string | null;
}

export type PollOutcome = 'ok' | FinboxFailure;

/** A poll's answer: FinBox's parsed response, or the failure. */
export type PollAnswer =
  | { response: { data: UploadStatusResponse; raw: unknown; status: number }; failure?: undefined }
  | { failure: FinboxError; response?: undefined };

export interface PollResult {
  outcome: PollOutcome;
  error: string | null;
  /** This poll completed the session (its webhook never arrived). */
  healed: boolean;
}

/**
 * The rules that turn what FinBox says (a webhook, a poll answer, an error)
 * into facts about a session. The facts are merged by SessionsRepository.apply
 * and the status derived from them as described in session-status.ts.
 */
@Injectable()
export class SessionsService {
  private readonly logger = new Logger(SessionsService.name);
  private readonly reconcile: AppConfig['reconcile'];

  constructor(
    private readonly repository: SessionsRepository,
    private readonly finbox: FinboxClient,
    private readonly metrics: MetricsService,
    config: ConfigService<AppConfig, true>,
  ) {
    this.reconcile = config.get('reconcile', { infer: true });
    metrics.queueStats = () => repository.queueStats();
  }

  /**
   * A webhook body, stored durably before this returns. A payload that fails
   * validation is stored as rejected (and its session, if named, polled at
   * once) and then reported as VALIDATION_FAILED.
   */
  async receiveWebhook(body: unknown): Promise<void> {
    // Serialised once: the canonical text is both the dedupe key's input and what is stored (jsonb ignores key order).
    const payload_json = canonicalJson(body);
    const dedupe_key = createHash('sha256').update(payload_json).digest('hex');
    const now = new Date();
    let observation: Observation;
    let label: string;
    let rejection: PayloadError | undefined;
    try {
      const event = parseWebhook(body);
      const base = { session_id: event.session_id, schedule: { next_poll_at: this.afterGrace(now), reschedule: false } };
      const stored = { channel: 'webhook' as const, event_name: event.event_name, payload_json, dedupe_key };
      label = event.kind === 'unknown' ? 'unknown' : event.event_name;
      switch (event.kind) {
        case 'completion':
        case 'expiry':
          observation = {
            ...base,
            event: { ...stored, outcome: 'applied' },
            facts: {
              confirmed: true,
              completed_via: event.kind === 'completion' ? 'webhook' : undefined,
              expired: event.kind === 'expiry',
              accounts: event.accounts,
              session_date_range: event.session_date_range,
            },
          };
          break;
        case 'enrichment':
          // Enrichment only follows a finished upload: it proves completion.
          observation = {
            ...base,
            event: { ...stored, outcome: 'applied' },
            facts: {
              confirmed: true,
              completed_via: 'webhook',
              enrichment: { ...event.enrichment, notified_at: now.toISOString() },
            },
          };
          break;
        case 'unknown':
          observation = {
            ...base,
            event: { ...stored, outcome: 'ignored' },
            facts: { confirmed: true },
            schedule: { next_poll_at: now, reschedule: true },
          };
          break;
      }
    } catch (error) {
      if (!(error instanceof PayloadError)) throw error;
      rejection = error;
      label = 'invalid';
      const eventName = (body as { event_name?: unknown } | null)?.event_name;
      observation = {
        session_id: sessionIdOf(body),
        event: {
          channel: 'webhook',
          event_name: typeof eventName === 'string' ? eventName.slice(0, 128) : null,
          outcome: 'rejected',
          error: error.message.slice(0, 2_000),
          payload_json,
          dedupe_key,
        },
        facts: {},
        schedule: { next_poll_at: now, reschedule: true },
      };
    }

    const result = await this.repository.apply(observation);
    const outcome = result.fresh ? observation.event.outcome : 'duplicate';
    this.metrics.webhookEvents.inc({ event: label, outcome });
    if (rejection) {
      throw AppError.validation(rejection.details, 'The webhook payload is invalid; it was stored as rejected');
    }
  }

  async register(dto: RegisterSessionDto): Promise<{ created: boolean; session: SessionView }> {
    const sessionId = dto.session_id.toLowerCase();
    const { created } = await this.repository.register(
      sessionId,
      dto.reference ?? null,
      dto.metadata ?? {},
      this.afterGrace(new Date()),
    );
    return { created, session: await this.get(sessionId) };
  }

  async get(sessionId: string): Promise<SessionView> {
    const row = await this.repository.find(sessionId.toLowerCase());
    if (!row) throw AppError.sessionNotFound(sessionId);
    return toSessionView(row);
  }

  async list(query: ListSessionsQuery): Promise<SessionPageView> {
    const limit = query.limit ?? 100;
    const after = query.cursor ? decodeCursor(query.cursor, 'session') : undefined;
    const rows = await this.repository.list({
      status: query.status,
      reference: query.reference || undefined,
      updated_after: instantOf(query.updated_after) ?? undefined,
      after: after && { change_xid: after[0], session_id: after[1] },
      limit,
    });
    const last = rows.at(-1);
    // Nothing can still commit at or before `last` (SessionsRepository.list): resuming from it later misses no change.
    const end = last ? encodeCursor('session', [last.change_xid, last.session_id]) : (query.cursor || null);
    return {
      items: rows.map(toSessionView),
      next_cursor: rows.length === limit ? end : null,
      resume_cursor: end,
    };
  }

  async events(sessionId: string, query: ListEventsQuery): Promise<SessionEventPageView> {
    const id = sessionId.toLowerCase();
    if (!(await this.repository.exists(id))) throw AppError.sessionNotFound(sessionId);
    const limit = query.limit ?? 100;
    const before = query.cursor ? decodeCursor(query.cursor, 'event')[0] : undefined;
    const rows = await this.repository.events(id, limit, before);
    const last = rows.at(-1);
    return {
      items: rows.map(toEventView),
      next_cursor: rows.length === limit && last ? encodeCursor('event', [last.id]) : null,
    };
  }

  /** POST /v1/sessions/{id}/reconcile: poll FinBox now; FinBox failures are UPSTREAM_UNAVAILABLE. */
  async reconcileNow(sessionId: string): Promise<SessionView> {
    const row = await this.repository.find(sessionId.toLowerCase());
    if (!row) throw AppError.sessionNotFound(sessionId);
    const { outcome, error } = await this.poll({ ...row, lease_token: null });
    if (outcome !== 'ok' && outcome !== 'not_found' && outcome !== 'deleted') {
      throw new AppError(ErrorCode.UPSTREAM_UNAVAILABLE, error ?? `FinBox call failed (${outcome})`);
    }
    return this.get(row.session_id);
  }

  /**
   * Polls FinBox for one session and applies the answer. Access denied, an
   * open circuit and missing credentials leave the session untouched and are
   * returned for the caller to act on.
   */
  async poll(target: PollTarget, deadline?: AbortSignal): Promise<PollResult> {
    const { answer, durationMs } = await this.askFinbox(target.session_id, deadline);
    return this.applyPollAnswer(target, answer, durationMs);
  }

  /** The FinBox half of a poll: its answer or failure, and how long it took (`deadline` cuts it off). */
  async askFinbox(sessionId: string, deadline?: AbortSignal): Promise<{ answer: PollAnswer; durationMs: number }> {
    const started = Date.now();
    try {
      return { answer: { response: await this.finbox.getUploadStatus(sessionId, deadline) }, durationMs: Date.now() - started };
    } catch (error) {
      if (!(error instanceof FinboxError)) throw error;
      return { answer: { failure: error }, durationMs: Date.now() - started };
    }
  }

  /** What FinBox answered to one poll (or how the call failed), applied to the session. */
  async applyPollAnswer(target: PollTarget, answer: PollAnswer, durationMs = 0): Promise<PollResult> {
    const { response, failure } = answer;
    const outcome: PollOutcome = failure?.kind ?? 'ok';
    const error = failure?.message ?? null;
    const event = {
      channel: 'poll' as const,
      event_name: 'session_upload_status',
      outcome,
      http_status: failure?.httpStatus ?? response?.status ?? null,
      error,
      duration_ms: durationMs,
      payload_json: response ? JSON.stringify(response.raw) : null,
    };
    this.metrics.polls.inc({ outcome });
    if (outcome === 'circuit_open' || outcome === 'not_configured') return { outcome, error, healed: false };
    if (outcome === 'access_denied') {
      await this.repository.recordEvent(target.session_id, event);
      return { outcome, error, healed: false };
    }

    const data = response?.data;
    // Not 'not_found': a 404 ends only a session FinBox never confirmed (NOT_FOUND leaves the queue by itself);
    // for a confirmed one it changes nothing, so giving up must still apply.
    const terminal = outcome === 'deleted' || data?.upload_status === 'COMPLETED' || data?.upload_status === 'EXPIRED';
    const now = new Date();
    const schedule = nextPoll(
      {
        now,
        attempts: target.poll_attempts + 1,
        trackedSince: new Date(target.tracked_since),
        expiresAt: data?.expires_at ?? (target.expires_at ? new Date(target.expires_at) : null),
        retryAfterMs: failure?.retryAfterMs,
        answered: failure === undefined || outcome === 'not_found' || outcome === 'deleted',
      },
      this.reconcile,
    );
    const result = await this.repository.apply({
      session_id: target.session_id,
      event,
      facts: data
        ? {
            confirmed: true,
            in_progress: data.upload_status === 'IN_PROGRESS',
            completed_via: data.upload_status === 'COMPLETED' ? 'poll' : undefined,
            expired: data.upload_status === 'EXPIRED',
            accounts: data.accounts,
            session_date_range: data.session_date_range,
            expires_at: data.expires_at,
          }
        : { not_found: outcome === 'not_found', deleted: outcome === 'deleted' },
      poll: { error },
      schedule: {
        next_poll_at: schedule.next_poll_at,
        gave_up: schedule.gave_up && !terminal,
        reschedule: true,
        lease_token: target.lease_token,
      },
    });
    const healed = result.completed_now && result.completed_via === 'poll';
    if (healed) {
      this.metrics.sessionsHealed.inc();
      this.logger.log({ session_id: target.session_id }, 'Session healed: completion learned by polling');
    }
    return { outcome, error, healed };
  }

  private afterGrace(now: Date): Date {
    return new Date(now.getTime() + this.reconcile.graceSeconds * 1000);
  }
}

/** JSON with object keys sorted, so a redelivery re-serialised in another key order has the same dedupe key. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

