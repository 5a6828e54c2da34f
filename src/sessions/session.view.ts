import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import type { AccountRecord, SessionRecord } from './sessions.repository.js';
import type { SessionEventEntity } from './session-event.entity.js';
import { POLLED_STATUSES, SESSION_STATUSES, type SessionStatus } from './session-status.js';

/** The REST shapes of CONTRACT §3. The classes document the API (OpenAPI); the functions build them. */

export class DateRangeView {
  @ApiProperty({ type: String, nullable: true, example: '2023-10-25', description: 'YYYY-MM-DD' })
  from_date: string | null;

  @ApiProperty({ type: String, nullable: true, example: '2024-04-25', description: 'YYYY-MM-DD' })
  to_date: string | null;
}

export class StatementView {
  @ApiProperty({ example: 'fe49d6a6-1c0e-4e6d-911a-c38b6a4f0d04' })
  statement_id: string;

  @ApiProperty({ type: String, nullable: true, example: 'completed' })
  statement_status: string | null;

  @ApiProperty({ type: String, nullable: true })
  error_code: string | null;

  @ApiProperty({ type: String, nullable: true })
  error_message: string | null;

  @ApiProperty({ type: String, nullable: true, example: 'pdf' })
  source: string | null;

  @ApiProperty({ type: DateRangeView })
  statement_date_range: DateRangeView;

  @ApiProperty({ type: String, nullable: true, format: 'date-time' })
  created_at: string | null;
}

export class AccountView {
  @ApiProperty({ example: '814d062e-1c36-409f-9f9c-acb32e7984b0' })
  account_id: string;

  @ApiProperty({ type: String, nullable: true, example: '5413699704', description: 'As FinBox sent it (possibly masked)' })
  account_number: string | null;

  @ApiProperty({ type: String, nullable: true, example: 'kotak' })
  bank_name: string | null;

  @ApiProperty({ type: String, nullable: true, example: 'PARTIAL', description: 'PARTIAL | COMPLETED' })
  account_status: string | null;

  @ApiProperty({ type: [String], example: ['2023-10', '2023-11'] })
  months: string[];

  @ApiProperty({ type: [DateRangeView] })
  missing_data: DateRangeView[];

  @ApiProperty({ type: String, nullable: true, format: 'date-time' })
  created_at: string | null;

  @ApiProperty({ type: String, nullable: true, format: 'date-time' })
  last_updated_at: string | null;

  @ApiProperty({ type: [StatementView] })
  statements: StatementView[];
}

export class EnrichmentAccountView {
  @ApiProperty()
  account_id: string;

  @ApiProperty({ type: String, nullable: true, example: 'completed', description: 'completed | failed' })
  status: string | null;

  @ApiProperty({ type: String, nullable: true })
  error_code: string | null;

  @ApiProperty({ type: String, nullable: true })
  error_message: string | null;
}

export class EnrichmentView {
  @ApiProperty()
  insights_available: boolean;

  @ApiProperty({ format: 'date-time' })
  notified_at: string;

  @ApiProperty({ type: [EnrichmentAccountView] })
  accounts: EnrichmentAccountView[];
}

export class SessionView {
  @ApiProperty({ format: 'uuid' })
  session_id: string;

  @ApiProperty({ enum: SESSION_STATUSES })
  status: SessionStatus;

  @ApiProperty({ type: String, nullable: true, enum: ['webhook', 'poll'] })
  completed_via: 'webhook' | 'poll' | null;

  @ApiProperty({ type: String, nullable: true })
  reference: string | null;

  @ApiProperty({ type: 'object', additionalProperties: true })
  metadata: Record<string, unknown>;

  @ApiProperty({ type: DateRangeView })
  session_date_range: DateRangeView;

  @ApiProperty({ type: [AccountView] })
  accounts: AccountView[];

  @ApiProperty({ type: EnrichmentView, nullable: true })
  enrichment: EnrichmentView | null;

  @ApiProperty({ type: String, nullable: true, format: 'date-time', description: "FinBox's session_expiry_timestamp" })
  expires_at: string | null;

  @ApiProperty({ format: 'date-time' })
  tracked_since: string;

  @ApiProperty({ type: String, nullable: true, format: 'date-time' })
  completed_at: string | null;

  @ApiProperty({ type: String, nullable: true, format: 'date-time' })
  expired_at: string | null;

  @ApiProperty({ type: String, nullable: true, format: 'date-time' })
  deleted_at: string | null;

  @ApiProperty({ type: String, nullable: true, format: 'date-time' })
  last_webhook_at: string | null;

  @ApiProperty({ type: String, nullable: true, format: 'date-time' })
  last_polled_at: string | null;

  @ApiProperty({ type: String, nullable: true, format: 'date-time', description: 'null once the session left the polling queue' })
  next_poll_at: string | null;

  @ApiProperty()
  poll_attempts: number;

  @ApiProperty({ type: String, nullable: true })
  last_poll_error: string | null;

  @ApiProperty({ type: String, nullable: true, format: 'date-time' })
  gave_up_at: string | null;

  @ApiProperty({ format: 'date-time' })
  updated_at: string;
}

export class SessionPageView {
  @ApiProperty({ type: [SessionView] })
  items: SessionView[];

  @ApiProperty({ type: String, nullable: true, description: 'Pass as `cursor` for the next page; null on the last page (for now)' })
  next_cursor: string | null;

  @ApiProperty({
    type: String,
    nullable: true,
    description:
      'Where this page ends: pass as `cursor` later to get only what changed since (the change feed never ends). ' +
      'Equal to next_cursor when there is a next page; null only when nothing has been served yet.',
  })
  resume_cursor: string | null;
}

export class SessionEventView {
  @ApiProperty({ example: '42' })
  id: string;

  @ApiProperty({ enum: ['webhook', 'poll'] })
  channel: 'webhook' | 'poll';

  @ApiProperty({ type: String, nullable: true, example: 'SESSION_REQUIREMENT_COMPLETION_NOTIFICATION' })
  event_name: string | null;

  @ApiProperty({
    example: 'applied',
    description:
      'webhook: applied | ignored (unknown event) | rejected (failed validation); ' +
      'poll: ok | not_found | deleted | access_denied | rate_limited | unavailable | timeout | invalid_response | circuit_open',
  })
  outcome: string;

  @ApiProperty({ type: Number, nullable: true, description: "FinBox's HTTP status (polls)" })
  http_status: number | null;

  @ApiProperty({ type: String, nullable: true })
  error: string | null;

  @ApiProperty({ type: Number, nullable: true })
  duration_ms: number | null;

  @ApiProperty({ format: 'date-time' })
  received_at: string;

  @ApiPropertyOptional({ description: 'The raw webhook body or FinBox response', type: 'object', additionalProperties: true, nullable: true })
  payload: unknown;
}

export class SessionEventPageView {
  @ApiProperty({ type: [SessionEventView] })
  items: SessionEventView[];

  @ApiProperty({ type: String, nullable: true, description: 'Pass as `cursor` for older events; null on the last page' })
  next_cursor: string | null;
}

const iso = (value: Date | string | null | undefined): string | null =>
  value === null || value === undefined ? null : new Date(value).toISOString();

function range(from: string | null, to: string | null): DateRangeView {
  return { from_date: from, to_date: to };
}

function toAccountView(account: AccountRecord): AccountView {
  return {
    account_id: account.account_id,
    account_number: account.account_number,
    bank_name: account.bank_name,
    account_status: account.account_status,
    months: account.months ?? [],
    missing_data: account.missing_data ?? [],
    created_at: iso(account.created_at),
    last_updated_at: iso(account.last_updated_at),
    statements: account.statements.map((statement) => ({
      statement_id: statement.statement_id,
      statement_status: statement.statement_status,
      error_code: statement.error_code,
      error_message: statement.error_message,
      source: statement.source,
      statement_date_range: range(statement.date_from, statement.date_to),
      created_at: iso(statement.created_at),
    })),
  };
}

export function toSessionView(row: SessionRecord): SessionView {
  const polled = POLLED_STATUSES.includes(row.status) && row.gave_up_at === null;
  return {
    session_id: row.session_id,
    status: row.status,
    completed_via: row.completed_via,
    reference: row.reference,
    metadata: row.metadata,
    session_date_range: range(row.session_date_from, row.session_date_to),
    accounts: row.accounts.map(toAccountView),
    enrichment: row.enrichment as EnrichmentView | null,
    expires_at: iso(row.expires_at),
    tracked_since: iso(row.tracked_since)!,
    completed_at: iso(row.completed_at),
    expired_at: iso(row.expired_at),
    deleted_at: iso(row.deleted_at),
    last_webhook_at: iso(row.last_webhook_at),
    last_polled_at: iso(row.last_polled_at),
    next_poll_at: polled ? iso(row.next_poll_at) : null,
    poll_attempts: row.poll_attempts,
    last_poll_error: row.last_poll_error,
    gave_up_at: iso(row.gave_up_at),
    updated_at: iso(row.updated_at)!,
  };
}

export function toEventView(row: SessionEventEntity): SessionEventView {
  return {
    id: row.id,
    channel: row.channel,
    event_name: row.event_name,
    outcome: row.outcome,
    http_status: row.http_status,
    error: row.error,
    duration_ms: row.duration_ms,
    received_at: iso(row.received_at)!,
    payload: row.payload,
  };
}
