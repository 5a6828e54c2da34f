/**
 * A simulated FinBox session: its timeline, and the JSON FinBox sends about it
 * (the upload-status poll, the completion/expiry webhook, the enrichment
 * webhook). Status is derived from the clock, so a poll never disagrees with
 * the timeline; the sandbox only uses timers to send webhooks.
 */
import { randomInt, randomUUID } from 'node:crypto';
import {
  addDays,
  addMonths,
  dmy,
  isoMicros,
  monthsBetween,
  offsetMicros,
  plainDateTime,
  ymd,
} from './formats.js';
import type { UploadStatus, WebhookFaults } from './types.js';
import type { ParsedSessionSpec } from './validation.js';

const BANKS = ['axis', 'hdfc', 'icici', 'kotak', 'sbi'];
const UNPARSABLE_MESSAGE = 'Failed to process because of an unparsable statement';

interface SimAccount {
  account_id: string;
  /** 15 digits, unmasked. */
  account_number: string;
  bank_name: string;
  statement_id: string;
  upload_file_name: string;
  /** The statement is created this long before its account. */
  statementLeadMs: number;
  /** Microsecond digits of the statement's created_at. */
  statementMicros: number;
}

export interface SimSession {
  id: string;
  createdAt: number;
  inProgressAfterMs: number;
  /** Offset of completion; null when the session expires first or never completes. */
  completesAfterMs: number | null;
  expireAfterMs: number;
  /** Offset of the enrichment webhook after completion; null: none. */
  enrichmentAfterMs: number | null;
  enrichmentFailed: boolean;
  /** Per-session override of the sandbox's webhook faults. */
  webhooks: WebhookFaults;
  accounts: SimAccount[];
  deleted: boolean;
  /** Pending webhook timers, cleared on delete and on close. */
  timers: Set<NodeJS.Timeout>;
}

/** How far the upload got, ignoring expiry. */
type Progress = 'NO_UPLOAD' | 'IN_PROGRESS' | 'COMPLETED';

export function createSimSession(spec: ParsedSessionSpec, now: number): SimSession {
  const completes = spec.completeAfterMs !== null && spec.completeAfterMs < spec.expireAfterMs;
  return {
    id: spec.sessionId ?? randomUUID(),
    createdAt: now,
    inProgressAfterMs: spec.inProgressAfterMs,
    completesAfterMs: completes ? spec.completeAfterMs : null,
    expireAfterMs: spec.expireAfterMs,
    enrichmentAfterMs: spec.enrichmentAfterMs,
    enrichmentFailed: spec.enrichmentFailed,
    webhooks: spec.webhooks,
    accounts: Array.from({ length: spec.accounts }, (_, index) => seedAccount(index)),
    deleted: false,
    timers: new Set(),
  };
}

function seedAccount(index: number): SimAccount {
  const bank = BANKS[index % BANKS.length];
  return {
    account_id: randomUUID(),
    account_number: `${randomInt(1, 10)}${Array.from({ length: 14 }, () => randomInt(0, 10)).join('')}`,
    bank_name: bank,
    statement_id: randomUUID(),
    upload_file_name: `${randomUUID()}_${bank}.pdf`,
    statementLeadMs: randomInt(200, 1500),
    statementMicros: randomInt(0, 1000),
  };
}

export function expiresAt(session: SimSession): number {
  return session.createdAt + session.expireAfterMs;
}

function progressAt(session: SimSession, now: number): Progress {
  const elapsed = now - session.createdAt;
  if (session.completesAfterMs !== null && elapsed >= session.completesAfterMs) return 'COMPLETED';
  // An upload that had not started by the expiry never starts.
  if (elapsed >= session.inProgressAfterMs && session.inProgressAfterMs < session.expireAfterMs) return 'IN_PROGRESS';
  return 'NO_UPLOAD';
}

/** Completion wins over expiry: a completed session stays COMPLETED. */
export function uploadStatusAt(session: SimSession, now: number): UploadStatus {
  const progress = progressAt(session, now);
  if (progress !== 'COMPLETED' && now >= expiresAt(session)) return 'EXPIRED';
  return progress;
}

/** The session's date range: the six months up to the day before creation. */
function dateRange(session: SimSession): { fromMs: number; toMs: number } {
  const toMs = addDays(session.createdAt, -1);
  return { fromMs: addMonths(toMs, -6), toMs };
}

function sessionDateRange(session: SimSession): { from_date: string; to_date: string } {
  const { fromMs, toMs } = dateRange(session);
  return { from_date: dmy(fromMs), to_date: dmy(toMs) };
}

/**
 * The accounts block. The poll shows account numbers unmasked and statement
 * times as ISO; webhooks mask the number, print times with '+00:00', add
 * upload_file_name and use null for empty error fields.
 */
function accounts(session: SimSession, progress: Progress, now: number, style: 'poll' | 'webhook'): object[] {
  if (progress === 'NO_UPLOAD') return [];
  const { fromMs, toMs } = dateRange(session);
  const createdMs = session.createdAt + session.inProgressAfterMs;
  // last_updated_at moves to the completion time; a webhook fired by hand before it uses "now".
  const updatedMs =
    progress === 'COMPLETED'
      ? Math.max(createdMs, Math.min(now, session.createdAt + (session.completesAfterMs ?? Infinity)))
      : createdMs;
  const completed = progress === 'COMPLETED';
  const webhook = style === 'webhook';

  return session.accounts.map((account) => {
    const statementMs = createdMs - account.statementLeadMs;
    return {
      account_id: account.account_id,
      account_number: webhook ? `XXXXXXXXXXX${account.account_number.slice(-4)}` : account.account_number,
      bank_name: account.bank_name,
      account_status: completed ? 'COMPLETED' : 'PARTIAL',
      months: monthsBetween(fromMs, toMs),
      // While partial, the last 30 days of the range are still missing.
      missing_data: completed ? [] : [{ from_date: ymd(addDays(toMs, -29)), to_date: ymd(toMs) }],
      created_at: plainDateTime(createdMs),
      last_updated_at: plainDateTime(updatedMs),
      statements: [
        {
          statement_id: account.statement_id,
          statement_status: 'completed',
          error_code: webhook ? null : '',
          error_message: webhook ? null : '',
          source: 'pdf',
          ...(webhook ? { upload_file_name: account.upload_file_name } : {}),
          statement_date_range: { from_date: dmy(fromMs), to_date: dmy(toMs) },
          created_at: webhook
            ? offsetMicros(statementMs, account.statementMicros)
            : isoMicros(statementMs, account.statementMicros),
        },
      ],
    };
  });
}

/** GET .../session_upload_status/ */
export function pollPayload(session: SimSession, now: number): object {
  return {
    session_id: session.id,
    session_date_range: sessionDateRange(session),
    upload_status: uploadStatusAt(session, now),
    session_expiry_timestamp: plainDateTime(expiresAt(session)),
    accounts: accounts(session, progressAt(session, now), now, 'poll'),
  };
}

/** SESSION_REQUIREMENT_COMPLETION_NOTIFICATION or SESSION_EXPIRY_NOTIFICATION. */
export function notificationPayload(session: SimSession, event: 'completion' | 'expiry', now: number): object {
  const completion = event === 'completion';
  return {
    session_id: session.id,
    event_name: completion ? 'SESSION_REQUIREMENT_COMPLETION_NOTIFICATION' : 'SESSION_EXPIRY_NOTIFICATION',
    message: completion ? 'Upload Completed' : 'Session expired',
    accounts: accounts(session, completion ? 'COMPLETED' : progressAt(session, now), now, 'webhook'),
    session_date_range: sessionDateRange(session),
  };
}

/** ENRICHMENT_NOTIFICATION, in its success or failure shape. */
export function enrichmentPayload(session: SimSession): object {
  const failed = session.enrichmentFailed;
  return {
    session_id: session.id,
    insights_available: !failed,
    accounts: session.accounts.map((account) => ({
      name: 'XXXXXXXXX',
      account_category: 'individual',
      account_id: account.account_id,
      bank_name: account.bank_name,
      error_code: failed ? 'UNPARSABLE' : '',
      error_message: failed ? UNPARSABLE_MESSAGE : '',
      account_status: failed ? 'failed' : 'completed',
      attempt_types: ['PDF'],
    })),
    event_name: 'ENRICHMENT_NOTIFICATION',
  };
}
