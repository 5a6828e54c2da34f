/**
 * The status model of CONTRACT §3, in one place.
 *
 * A session's status is never written directly: the sessions table derives it
 * (a generated column, `STATUS_EXPRESSION`) from the moments each kind of fact
 * was first learned. Facts are only ever added, never removed, so the status
 * can only move forward, and applying the same facts in any order, or the same
 * fact twice, gives the same status:
 *
 *   deleted_at       FinBox answered 410             → DELETED (terminal from any status)
 *   completed_at     completion webhook, enrichment,  → COMPLETED (beats an earlier or later expiry)
 *                    or a poll saying COMPLETED
 *   expired_at       expiry webhook or poll EXPIRED   → EXPIRED
 *   in_progress_at   a poll saying IN_PROGRESS        → IN_PROGRESS
 *   not_found_at     FinBox answered 404 while it had → NOT_FOUND, but only while confirmed_at
 *                    never confirmed the session         is still empty
 *   (none)                                           → NO_UPLOAD
 *
 * `confirmed_at` is set by any accepted webhook and any successful poll.
 */
export const SESSION_STATUSES = ['NO_UPLOAD', 'IN_PROGRESS', 'EXPIRED', 'COMPLETED', 'DELETED', 'NOT_FOUND'] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];

/** Statuses the reconciler still polls; every other status has left the queue. */
export const POLLED_STATUSES: readonly SessionStatus[] = ['NO_UPLOAD', 'IN_PROGRESS'];

export const STATUS_EXPRESSION = `CASE
  WHEN deleted_at IS NOT NULL THEN 'DELETED'
  WHEN completed_at IS NOT NULL THEN 'COMPLETED'
  WHEN expired_at IS NOT NULL THEN 'EXPIRED'
  WHEN in_progress_at IS NOT NULL THEN 'IN_PROGRESS'
  WHEN confirmed_at IS NULL AND not_found_at IS NOT NULL THEN 'NOT_FOUND'
  ELSE 'NO_UPLOAD'
END`;

/** The queue: sessions the reconciler may lease (the partial index `sessions_due_idx` covers exactly these). */
export const POLLED_PREDICATE = `status IN ('NO_UPLOAD', 'IN_PROGRESS') AND gave_up_at IS NULL`;
