import { Injectable } from '@nestjs/common';
import { Sql } from '../database/sql.js';
import type { DateRange, Enrichment, FinboxAccount } from '../finbox/finbox-payload.js';
import type { SessionEntity } from './session.entity.js';
import type { SessionEventEntity } from './session-event.entity.js';
import { POLLED_PREDICATE, type SessionStatus } from './session-status.js';

/**
 * All SQL for sessions, accounts, statements and their history lives here.
 * The merge rules are enforced by the database in single statements
 * (INSERT … ON CONFLICT … DO UPDATE), so concurrent webhooks, polls and
 * replicas cannot interleave a read and a write.
 */

/** What one webhook or poll tells us about one session. Built by SessionsService; applied by `apply`. */
export interface Observation {
  /** null only for a rejected webhook without a usable session_id (stored as history only). */
  session_id: string | null;
  event: {
    channel: 'webhook' | 'poll';
    event_name: string | null;
    outcome: string;
    http_status?: number | null;
    error?: string | null;
    duration_ms?: number | null;
    /** The webhook body or FinBox's answer as JSON text (serialised once, by the caller). */
    payload_json?: string | null;
    /** Webhooks only: a redelivery of the same payload conflicts on this key and changes nothing. */
    dedupe_key?: string | null;
  };
  /** Facts learned; each is recorded once (the first time) and never removed. */
  facts: {
    confirmed?: boolean;
    in_progress?: boolean;
    completed_via?: 'webhook' | 'poll';
    expired?: boolean;
    deleted?: boolean;
    not_found?: boolean;
    session_date_range?: DateRange | null;
    expires_at?: Date | null;
    enrichment?: (Enrichment & { notified_at: string }) | null;
    accounts?: FinboxAccount[];
  };
  /** Set for polls: bumps poll_attempts and records the error (null on success). */
  poll?: { error: string | null };
  /**
   * When the session is next polled. Always used for a session this creates;
   * applied to an existing session only when `reschedule` is set and the
   * session's lease is `lease_token` (null: not leased).
   */
  schedule: { next_poll_at: Date; reschedule: boolean; gave_up?: boolean; lease_token?: string | null };
}

export interface ApplyResult {
  /** false: a redelivered webhook; nothing was changed. */
  fresh: boolean;
  /** null for a redelivery. */
  event_id: string | null;
  /** The session row was created by this observation. */
  created: boolean;
  status: SessionStatus | null;
  /** This observation is the one that completed the session. */
  completed_now: boolean;
  completed_via: 'webhook' | 'poll' | null;
}

/** A session row plus its accounts (with statements) as JSON, as the REST API shows it. */
export type SessionRecord = SessionEntity & { accounts: AccountRecord[] };
export interface AccountRecord {
  account_id: string;
  account_number: string | null;
  bank_name: string | null;
  account_status: string | null;
  months: string[] | null;
  missing_data: DateRange[] | null;
  created_at: string | null;
  last_updated_at: string | null;
  statements: Array<{
    statement_id: string;
    statement_status: string | null;
    error_code: string | null;
    error_message: string | null;
    source: string | null;
    date_from: string | null;
    date_to: string | null;
    created_at: string | null;
  }>;
}

export interface LeasedSession {
  session_id: string;
  /** next_poll_at before the lease: restored when the lease is released unpolled. */
  due_at: Date;
  tracked_since: Date;
  expires_at: Date | null;
  poll_attempts: number;
  lease_expires_at: Date;
}

export interface ListFilter {
  status?: SessionStatus;
  reference?: string;
  updated_after?: Date;
  /** Keyset position: strictly after this (change_xid, session_id). */
  after?: { change_xid: string; session_id: string };
  limit: number;
}

interface ApplyRow {
  event_id: string | null;
  fresh: boolean;
  created: boolean | null;
  status: SessionStatus | null;
  completed_via: 'webhook' | 'poll' | null;
  completed_now: boolean | null;
}

/** Positional parameters, so the SQL below can name values inline (list queries built per call). */
class Params {
  readonly values: unknown[] = [];
  add(value: unknown, cast = ''): string {
    this.values.push(value === undefined ? null : value);
    return `$${this.values.length}${cast}`;
  }
}

/**
 * A statement written with `$name` parameters, compiled once to Postgres's
 * `$1…$n`: `values({ name: … })` lists the values in that order.
 */
function namedStatement<Name extends string>(sql: string) {
  const names: Name[] = [];
  const text = sql.replace(/\$([a-z_]+)/g, (_match, name: Name) => {
    const index = names.includes(name) ? names.indexOf(name) : names.push(name) - 1;
    return `$${index + 1}`;
  });
  return {
    text,
    values: (given: Record<Name, unknown>) => names.map((name) => given[name] ?? null),
  };
}

const json = (value: unknown) => (value === undefined || value === null ? null : JSON.stringify(value));

/** Newer data (by FinBox's last_updated_at) replaces; older or equal data only fills gaps. */
const newer = (incoming: string, stored: string) => `COALESCE(${incoming} > ${stored}, ${incoming} IS NOT NULL)`;
const merged = (column: string, alias: string, isNewer: string) =>
  `${column} = CASE WHEN ${isNewer} THEN COALESCE(EXCLUDED.${column}, ${alias}.${column}) ELSE COALESCE(${alias}.${column}, EXCLUDED.${column}) END`;

const ACCOUNT_NEWER = newer('EXCLUDED.last_updated_at', 'a.last_updated_at');
const STATEMENT_NEWER = newer('EXCLUDED.account_last_updated_at', 'st.account_last_updated_at');
const MASKED = (value: string) => `(${value} ~ '[Xx*]')`;
/** A fact's first moment: now, if this observation carries it. */
const learned = (flag: string) => `CASE WHEN ${flag}::boolean THEN now() END`;
/** Scheduling fields change only for the lease holder (or, unleased, an on-demand reconcile). */
const OWNS_LEASE = `$reschedule::boolean AND s.lease_token IS NOT DISTINCT FROM $lease_token::uuid`;

const SESSION_COLUMNS = `s.session_id, s.status, s.completed_via, s.reference, s.metadata, s.session_date_from,
  s.session_date_to, s.enrichment, s.expires_at, s.tracked_since, s.completed_at, s.expired_at, s.deleted_at,
  s.last_webhook_at, s.last_polled_at, s.next_poll_at, s.poll_attempts, s.last_poll_error, s.gave_up_at,
  s.updated_at, s.change_xid`;

const ACCOUNTS_JSON = `COALESCE((
  SELECT json_agg(json_build_object(
    'account_id', a.account_id, 'account_number', a.account_number, 'bank_name', a.bank_name,
    'account_status', a.account_status, 'months', a.months, 'missing_data', a.missing_data,
    'created_at', a.created_at, 'last_updated_at', a.last_updated_at,
    'statements', COALESCE((
      SELECT json_agg(json_build_object(
        'statement_id', st.statement_id, 'statement_status', st.statement_status, 'error_code', st.error_code,
        'error_message', st.error_message, 'source', st.source, 'date_from', st.date_from, 'date_to', st.date_to,
        'created_at', st.created_at) ORDER BY st.created_at NULLS LAST, st.statement_id)
      FROM statements st WHERE st.session_id = a.session_id AND st.account_id = a.account_id), '[]'::json)
  ) ORDER BY a.created_at NULLS LAST, a.account_id)
  FROM accounts a WHERE a.session_id = s.session_id), '[]'::json) AS accounts`;

/** The id of the writing transaction: a row's change-feed position. */
const CURRENT_XID = `pg_current_xact_id()::text::bigint`;


/**
 * SessionsRepository.apply as ONE statement (named parameters, compiled once):
 * the history event (a redelivery conflicts on dedupe_key and writes nothing at
 * all), then the session's facts, then its accounts, then their statements.
 * The CTEs that write accounts and statements read from `session`, so every
 * writer of a session takes the session row's lock first: writers of one
 * session are serialised and cannot deadlock.
 */
const APPLY = namedStatement(`
WITH event AS (
  INSERT INTO session_events (session_id, channel, event_name, outcome, http_status, error, duration_ms, payload, dedupe_key)
  VALUES ($session_id::uuid, $channel, $event_name, $outcome, $http_status::smallint, $error, $duration_ms::int,
          $payload::jsonb, $dedupe_key)
  ON CONFLICT (dedupe_key) DO NOTHING
  RETURNING id, true AS fresh
),
session AS (
  INSERT INTO sessions AS s (session_id, confirmed_at, in_progress_at, completed_at, completed_via, completed_event_id,
    expired_at, deleted_at, not_found_at, session_date_from, session_date_to, expires_at, enrichment,
    last_webhook_at, last_polled_at, poll_attempts, last_poll_error, next_poll_at, change_xid)
  SELECT $session_id::uuid, ${learned('$confirmed')}, ${learned('$in_progress')},
    CASE WHEN $completed_via::varchar IS NOT NULL THEN now() END, $completed_via::varchar,
    CASE WHEN $completed_via::varchar IS NOT NULL THEN event.id END,
    ${learned('$expired')}, ${learned('$deleted')}, ${learned('$not_found')},
    $date_from::date, $date_to::date, $expires_at::timestamptz, $enrichment::jsonb,
    ${learned('$is_webhook')}, ${learned('$is_poll')}, CASE WHEN $is_poll::boolean THEN 1 ELSE 0 END,
    $poll_error, $next_poll_at::timestamptz, ${CURRENT_XID}
  FROM event WHERE event.fresh AND $session_id::uuid IS NOT NULL
  ON CONFLICT (session_id) DO UPDATE SET
    confirmed_at = COALESCE(s.confirmed_at, EXCLUDED.confirmed_at),
    in_progress_at = COALESCE(s.in_progress_at, EXCLUDED.in_progress_at),
    completed_at = COALESCE(s.completed_at, EXCLUDED.completed_at),
    completed_via = CASE WHEN s.completed_at IS NULL THEN EXCLUDED.completed_via ELSE s.completed_via END,
    completed_event_id = CASE WHEN s.completed_at IS NULL THEN EXCLUDED.completed_event_id ELSE s.completed_event_id END,
    expired_at = COALESCE(s.expired_at, EXCLUDED.expired_at),
    deleted_at = COALESCE(s.deleted_at, EXCLUDED.deleted_at),
    not_found_at = CASE WHEN s.confirmed_at IS NULL THEN COALESCE(s.not_found_at, EXCLUDED.not_found_at) ELSE s.not_found_at END,
    session_date_from = COALESCE(EXCLUDED.session_date_from, s.session_date_from),
    session_date_to = COALESCE(EXCLUDED.session_date_to, s.session_date_to),
    expires_at = COALESCE(EXCLUDED.expires_at, s.expires_at),
    enrichment = COALESCE(EXCLUDED.enrichment, s.enrichment),
    last_webhook_at = COALESCE(EXCLUDED.last_webhook_at, s.last_webhook_at),
    last_polled_at = COALESCE(EXCLUDED.last_polled_at, s.last_polled_at),
    poll_attempts = s.poll_attempts + EXCLUDED.poll_attempts,
    last_poll_error = CASE WHEN EXCLUDED.last_polled_at IS NULL THEN s.last_poll_error ELSE EXCLUDED.last_poll_error END,
    next_poll_at = CASE WHEN ${OWNS_LEASE} THEN EXCLUDED.next_poll_at ELSE s.next_poll_at END,
    gave_up_at = CASE WHEN ${OWNS_LEASE} THEN (CASE WHEN $gave_up::boolean THEN now() END) ELSE s.gave_up_at END,
    lease_token = CASE WHEN ${OWNS_LEASE} THEN NULL ELSE s.lease_token END,
    updated_at = now(),
    change_xid = ${CURRENT_XID}
  RETURNING s.session_id, s.status, s.completed_via, (s.xmax = 0) AS created, s.completed_event_id
),
account_rows AS (
  INSERT INTO accounts AS a (session_id, account_id, account_number, bank_name, account_status, months,
    missing_data, created_at, last_updated_at)
  SELECT session.session_id, x.account_id, x.account_number, x.bank_name, x.account_status, x.months,
    x.missing_data, x.created_at, x.last_updated_at
  FROM session, jsonb_to_recordset($accounts::jsonb) AS x(account_id text,
    account_number text, bank_name text, account_status text, months jsonb, missing_data jsonb,
    created_at timestamptz, last_updated_at timestamptz)
  ON CONFLICT (session_id, account_id) DO UPDATE SET
    account_number = CASE
      WHEN EXCLUDED.account_number IS NULL THEN a.account_number
      WHEN a.account_number IS NULL THEN EXCLUDED.account_number
      WHEN ${MASKED('a.account_number')} AND NOT ${MASKED('EXCLUDED.account_number')} THEN EXCLUDED.account_number
      WHEN ${MASKED('EXCLUDED.account_number')} AND NOT ${MASKED('a.account_number')} THEN a.account_number
      WHEN ${ACCOUNT_NEWER} THEN EXCLUDED.account_number
      ELSE a.account_number END,
    ${['bank_name', 'account_status', 'months', 'missing_data', 'created_at'].map((c) => merged(c, 'a', ACCOUNT_NEWER)).join(',\n    ')},
    last_updated_at = GREATEST(a.last_updated_at, EXCLUDED.last_updated_at)
  RETURNING 1
),
statement_rows AS (
  INSERT INTO statements AS st (session_id, statement_id, account_id, statement_status, error_code, error_message,
    source, date_from, date_to, created_at, account_last_updated_at)
  SELECT session.session_id, x.statement_id, x.account_id, x.statement_status, x.error_code, x.error_message,
    x.source, x.date_from, x.date_to, x.created_at, x.account_last_updated_at
  FROM session, jsonb_to_recordset($statements::jsonb) AS x(statement_id text,
    account_id text, statement_status text, error_code text, error_message text, source text, date_from date,
    date_to date, created_at timestamptz, account_last_updated_at timestamptz)
  WHERE EXISTS (SELECT 1 FROM account_rows)
  ON CONFLICT (session_id, statement_id) DO UPDATE SET
    account_id = CASE WHEN ${STATEMENT_NEWER} THEN EXCLUDED.account_id ELSE st.account_id END,
    ${['statement_status', 'error_code', 'error_message', 'source', 'date_from', 'date_to', 'created_at'].map((c) => merged(c, 'st', STATEMENT_NEWER)).join(',\n    ')},
    account_last_updated_at = GREATEST(st.account_last_updated_at, EXCLUDED.account_last_updated_at)
  RETURNING 1
)
SELECT event.id AS event_id, event.fresh IS TRUE AS fresh, session.created, session.status, session.completed_via,
  session.completed_event_id = event.id AS completed_now
FROM (SELECT) AS one LEFT JOIN event ON true LEFT JOIN session ON true`);

@Injectable()
export class SessionsRepository {
  constructor(private readonly sql: Sql) {}

  /**
   * Applies one observation in ONE statement (so it commits atomically, with no
   * read-then-write window): the history event (deduplicated by `dedupe_key`),
   * the session's facts, its accounts and statements. Every writer of a session
   * locks the session row first, so writers of one session are serialised.
   */
  async apply(observation: Observation): Promise<ApplyResult> {
    const { facts, event, schedule, poll } = observation;
    const { accounts, statements } = flatten(facts.accounts ?? []);
    const [row] = await this.sql.prepared<ApplyRow>(
      'sessions_apply',
      APPLY.text,
      APPLY.values({
        session_id: observation.session_id,
        channel: event.channel,
        event_name: event.event_name,
        outcome: event.outcome,
        http_status: event.http_status ?? null,
        error: event.error ?? null,
        duration_ms: event.duration_ms ?? null,
        payload: event.payload_json ?? null,
        dedupe_key: event.dedupe_key ?? null,
        confirmed: Boolean(facts.confirmed),
        in_progress: Boolean(facts.in_progress),
        completed_via: facts.completed_via ?? null,
        expired: Boolean(facts.expired),
        deleted: Boolean(facts.deleted),
        not_found: Boolean(facts.not_found),
        date_from: facts.session_date_range?.from_date ?? null,
        date_to: facts.session_date_range?.to_date ?? null,
        expires_at: facts.expires_at ?? null,
        enrichment: json(facts.enrichment),
        is_webhook: event.channel === 'webhook',
        is_poll: poll !== undefined,
        poll_error: poll?.error ?? null,
        next_poll_at: schedule.next_poll_at,
        reschedule: schedule.reschedule,
        lease_token: schedule.lease_token ?? null,
        gave_up: Boolean(schedule.gave_up),
        accounts: JSON.stringify(accounts),
        statements: JSON.stringify(statements),
      }),
    );
    return {
      fresh: row.fresh,
      event_id: row.event_id,
      created: Boolean(row.created),
      status: row.status ?? null,
      completed_now: Boolean(row.completed_now),
      completed_via: row.completed_via ?? null,
    };
  }

  /** Records a history event without touching the session (e.g. a poll refused with access denied). */
  async recordEvent(sessionId: string, event: Observation['event']): Promise<void> {
    await this.sql.rows(
      `INSERT INTO session_events (session_id, channel, event_name, outcome, http_status, error, duration_ms, payload)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [sessionId, event.channel, event.event_name, event.outcome, event.http_status ?? null, event.error ?? null,
        event.duration_ms ?? null, event.payload_json ?? null],
    );
  }

  /**
   * Starts tracking a session (idempotent). An existing session keeps its data;
   * only a missing reference or empty metadata is filled in.
   */
  async register(
    sessionId: string,
    reference: string | null,
    metadata: Record<string, unknown>,
    nextPollAt: Date,
  ): Promise<{ created: boolean }> {
    const rows: Array<{ created: boolean }> = await this.sql.rows(
      `INSERT INTO sessions AS s (session_id, reference, metadata, next_poll_at, change_xid)
       VALUES ($1, $2, $3, $4, ${CURRENT_XID})
       ON CONFLICT (session_id) DO UPDATE SET
         reference = COALESCE(s.reference, EXCLUDED.reference),
         metadata = CASE WHEN s.metadata = '{}'::jsonb THEN EXCLUDED.metadata ELSE s.metadata END,
         updated_at = now(), change_xid = ${CURRENT_XID}
       WHERE (s.reference IS NULL AND EXCLUDED.reference IS NOT NULL)
          OR (s.metadata = '{}'::jsonb AND EXCLUDED.metadata <> '{}'::jsonb)
       RETURNING (xmax = 0) AS created`,
      [sessionId, reference, JSON.stringify(metadata), nextPollAt],
    );
    return { created: rows[0]?.created === true };
  }

  async find(sessionId: string): Promise<SessionRecord | null> {
    const rows = await this.sql.prepared<SessionRecord>(
      'sessions_find',
      `SELECT ${SESSION_COLUMNS}, ${ACCOUNTS_JSON} FROM sessions s WHERE s.session_id = $1`,
      [sessionId],
    );
    return rows[0] ?? null;
  }

  async exists(sessionId: string): Promise<boolean> {
    const rows = await this.sql.rows('SELECT 1 FROM sessions WHERE session_id = $1', [sessionId]);
    return rows.length > 0;
  }

  /**
   * The change feed: sessions in (change_xid, session_id) order. Only rows
   * written by transactions older than every transaction still running are
   * returned, so a write that commits late can never land behind a position a
   * consumer has already passed: following the cursor sees every change.
   *
   * "Every transaction still running" that could write here: transaction ids
   * are cluster-wide, so the plain snapshot xmin is held back by
   * any open write transaction in ANY database of the server (a migration or a
   * forgotten `BEGIN; UPDATE` elsewhere would freeze the feed). The horizon
   * here is the oldest running transaction of the statement's own snapshot
   * that is not known to belong to another database (pg_stat_activity; one it
   * cannot attribute, e.g. a prepared transaction or a hidden backend, counts
   * as ours), else the snapshot's xmax.
   */
  async list(filter: ListFilter): Promise<SessionRecord[]> {
    const p = new Params();
    const horizon = `(
      SELECT COALESCE(min(x::text::bigint), pg_snapshot_xmax(pg_current_snapshot())::text::bigint)
      FROM pg_snapshot_xip(pg_current_snapshot()) AS x
      WHERE NOT EXISTS (
        SELECT 1 FROM pg_stat_activity a
        WHERE a.backend_xid::text::bigint = x::text::bigint % 4294967296
          AND a.datid <> (SELECT oid FROM pg_database WHERE datname = current_database())))`;
    const where = [`s.change_xid < ${horizon}`];
    if (filter.status) where.push(`s.status = ${p.add(filter.status)}`);
    if (filter.reference) where.push(`s.reference = ${p.add(filter.reference)}`);
    // updated_at is shown to the millisecond: "after" compares what the caller can see (a session whose updated_at
    // was passed back is not served again just for its hidden microseconds).
    if (filter.updated_after) where.push(`s.updated_at >= ${p.add(filter.updated_after, '::timestamptz')} + interval '1 millisecond'`);
    if (filter.after) {
      where.push(
        `(s.change_xid, s.session_id) > (${p.add(filter.after.change_xid, '::bigint')}, ${p.add(filter.after.session_id, '::uuid')})`,
      );
    }
    return this.sql.rows<SessionRecord>(
      `SELECT ${SESSION_COLUMNS}, ${ACCOUNTS_JSON} FROM sessions s
       WHERE ${where.join(' AND ')}
       ORDER BY s.change_xid, s.session_id LIMIT ${p.add(filter.limit, '::int')}`,
      p.values,
    );
  }

  /** A session's history, newest first, strictly before event id `before` when given. */
  async events(sessionId: string, limit: number, before?: string): Promise<SessionEventEntity[]> {
    return this.sql.rows<SessionEventEntity>(
      `SELECT id, session_id, channel, event_name, outcome, http_status, error, duration_ms, payload, received_at
       FROM session_events WHERE session_id = $1 AND ($2::bigint IS NULL OR id < $2::bigint)
       ORDER BY id DESC LIMIT $3`,
      [sessionId, before ?? null, limit],
    );
  }

  /**
   * Leases up to `limit` due sessions for one pass, in one statement. Rows
   * another replica is leasing right now are skipped (SKIP LOCKED), and the
   * lease itself is a move of next_poll_at to the lease's end: a leased
   * session is no longer due, and comes back by itself if its holder dies.
   */
  async leaseDueSessions(leaseToken: string, limit: number, leaseSeconds: number): Promise<LeasedSession[]> {
    return this.sql.rows<LeasedSession>(
      `WITH due AS (
         SELECT session_id, next_poll_at FROM sessions
         WHERE ${POLLED_PREDICATE} AND next_poll_at <= now()
         ORDER BY next_poll_at LIMIT $2
         FOR UPDATE SKIP LOCKED)
       UPDATE sessions s SET next_poll_at = now() + make_interval(secs => $3), lease_token = $1
       FROM due WHERE s.session_id = due.session_id
       RETURNING s.session_id, due.next_poll_at AS due_at, s.tracked_since, s.expires_at, s.poll_attempts,
         s.next_poll_at AS lease_expires_at`,
      [leaseToken, limit, leaseSeconds],
    );
  }

  /** Gives leased sessions back unpolled (shutdown, access denied, open circuit), at their old place in the queue. */
  async releaseLeases(leaseToken: string, sessions: Array<Pick<LeasedSession, 'session_id' | 'due_at'>>): Promise<void> {
    if (sessions.length === 0) return;
    await this.sql.rows(
      `UPDATE sessions s SET next_poll_at = x.due_at, lease_token = NULL
       FROM jsonb_to_recordset($2::jsonb) AS x(session_id uuid, due_at timestamptz)
       WHERE s.session_id = x.session_id AND s.lease_token = $1`,
      [leaseToken, JSON.stringify(sessions.map(({ session_id, due_at }) => ({ session_id, due_at })))],
    );
  }

  /** For metrics: sessions still awaiting completion, those due now, and the oldest due one's wait. */
  async queueStats(): Promise<{ awaiting: number; due: number; oldest_due_seconds: number }> {
    const [row] = await this.sql.rows<{ awaiting: number; due: number; oldest_due_seconds: number }>(
      `SELECT count(*)::int AS awaiting,
              count(*) FILTER (WHERE next_poll_at <= now())::int AS due,
              COALESCE(EXTRACT(EPOCH FROM now() - min(next_poll_at) FILTER (WHERE next_poll_at <= now())), 0)::float8 AS oldest_due_seconds
       FROM sessions WHERE ${POLLED_PREDICATE}`,
    );
    return row;
  }
}

/** Accounts and their statements as rows; duplicates within one payload collapse to the last occurrence. */
function flatten(accounts: FinboxAccount[]) {
  const accountRows = new Map<string, object>();
  const statementRows = new Map<string, object>();
  for (const account of accounts) {
    const { statements, ...fields } = account;
    accountRows.set(account.account_id, fields);
    for (const statement of statements) {
      statementRows.set(statement.statement_id, {
        statement_id: statement.statement_id,
        account_id: account.account_id,
        statement_status: statement.statement_status,
        error_code: statement.error_code,
        error_message: statement.error_message,
        source: statement.source,
        date_from: statement.statement_date_range.from_date,
        date_to: statement.statement_date_range.to_date,
        created_at: statement.created_at,
        account_last_updated_at: account.last_updated_at,
      });
    }
  }
  // Sorted, so that concurrent writers of one session lock rows in the same order.
  const sorted = (rows: Map<string, object>) => [...rows.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, row]) => row);
  return { accounts: sorted(accountRows), statements: sorted(statementRows) };
}
