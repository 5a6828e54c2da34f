import type { ErrorDetail } from '../common/errors.js';

/**
 * The one parser for everything FinBox sends: webhook bodies and
 * session_upload_status responses. It turns FinBox's several formats into the
 * shapes of CONTRACT §3 and names the field of anything it cannot read.
 *
 *   timestamps  "2024-04-26 12:25:57" (no zone: UTC), "2024-04-26 12:25:56.172124+00:00",
 *               "2024-04-16T07:47:40.806223Z", any ISO 8601 offset  → Date (millisecond precision)
 *   dates       "25/10/2023" (DD/MM/YYYY), "2023-10-25"             → "2023-10-25"
 *   months      "2023-10"                                           → "2023-10"
 *   "" / null / absent                                              → null
 *   status words "IN PROGRESS", "in_progress", "In-Progress"       → "IN_PROGRESS"
 *   unknown fields                                                  → ignored (kept in the stored raw payload)
 *
 * Field values are deliberately left out of error messages: they may hold account numbers.
 */

export type UploadStatus = 'NO_UPLOAD' | 'IN_PROGRESS' | 'COMPLETED' | 'EXPIRED';
const UPLOAD_STATUSES: readonly UploadStatus[] = ['NO_UPLOAD', 'IN_PROGRESS', 'COMPLETED', 'EXPIRED'];

export interface DateRange {
  from_date: string | null;
  to_date: string | null;
}

export interface FinboxStatement {
  statement_id: string;
  statement_status: string | null;
  error_code: string | null;
  error_message: string | null;
  source: string | null;
  statement_date_range: DateRange;
  created_at: Date | null;
}

export interface FinboxAccount {
  account_id: string;
  account_number: string | null;
  bank_name: string | null;
  account_status: string | null;
  /** null: FinBox did not send the field (as opposed to an empty list). */
  months: string[] | null;
  missing_data: DateRange[] | null;
  created_at: Date | null;
  last_updated_at: Date | null;
  statements: FinboxStatement[];
}

export interface EnrichmentAccount {
  account_id: string;
  status: string | null;
  error_code: string | null;
  error_message: string | null;
}

export interface Enrichment {
  insights_available: boolean;
  accounts: EnrichmentAccount[];
}

export const COMPLETION_EVENTS = ['SESSION_REQUIREMENT_COMPLETION_NOTIFICATION', 'SESSION_COMPLETION_NOTIFICATION'];
export const EXPIRY_EVENT = 'SESSION_EXPIRY_NOTIFICATION';
export const ENRICHMENT_EVENT = 'ENRICHMENT_NOTIFICATION';

export type WebhookEvent =
  | {
      kind: 'completion' | 'expiry';
      session_id: string;
      event_name: string;
      accounts: FinboxAccount[];
      session_date_range: DateRange | null;
    }
  | { kind: 'enrichment'; session_id: string; event_name: string; enrichment: Enrichment }
  | { kind: 'unknown'; session_id: string; event_name: string };

export interface UploadStatusResponse {
  session_id: string;
  upload_status: UploadStatus;
  session_date_range: DateRange | null;
  expires_at: Date | null;
  accounts: FinboxAccount[];
}

/** Thrown with one entry per unreadable field. */
export class PayloadError extends Error {
  constructor(readonly details: ErrorDetail[]) {
    super(details.map((detail) => `${detail.field} ${detail.problem}`).join('; '));
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_ACCOUNTS = 100;
const MAX_STATEMENTS = 500;
const MAX_TEXT = 1_000;

// ── Scalars ────────────────────────────────────────────────────────────────

const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/** FinBox timestamp → Date, or undefined when it is not a real instant. Zone-less values are UTC. */
export function parseTimestamp(text: string): Date | undefined {
  const match = TIMESTAMP.exec(text.trim());
  if (!match) return undefined;
  const [, y, mo, d, h = '00', mi = '00', s = '00', fraction = '', zone = 'Z'] = match;
  if (!validDate(+y, +mo, +d) || +h > 23 || +mi > 59 || +s > 59) return undefined;
  let offsetMinutes = 0;
  if (zone.toUpperCase() !== 'Z') {
    const digits = zone.replace(':', '');
    const hours = Number(digits.slice(1, 3));
    const minutes = Number(digits.slice(3, 5) || '0');
    if (hours > 23 || minutes > 59) return undefined;
    offsetMinutes = (digits[0] === '-' ? -1 : 1) * (hours * 60 + minutes);
  }
  const millis = Number(fraction.padEnd(3, '0').slice(0, 3));
  const utc = Date.UTC(+y, +mo - 1, +d, +h, +mi, +s, millis) - offsetMinutes * 60_000;
  return new Date(utc);
}

/** FinBox date ("DD/MM/YYYY" or "YYYY-MM-DD") → "YYYY-MM-DD", or undefined. */
export function parseDate(text: string): string | undefined {
  const value = text.trim();
  const match = /^(\d{2})\/(\d{2})\/(\d{4})$/.exec(value);
  const [y, m, d] = match ? [match[3], match[2], match[1]] : (/^(\d{4})-(\d{2})-(\d{2})$/.exec(value)?.slice(1) ?? []);
  if (!y || !validDate(+y, +m, +d)) return undefined;
  return `${y}-${m}-${d}`;
}

function validDate(year: number, month: number, day: number): boolean {
  if (month < 1 || month > 12 || day < 1 || year < 1900 || year > 9999) return false;
  return day <= new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** "IN PROGRESS" / "in_progress" / "In-Progress" → "IN_PROGRESS". */
export function normaliseWord(text: string): string {
  return text.trim().toUpperCase().replace(/[\s-]+/g, '_');
}

// ── A small reader that walks a JSON value and records what is wrong where ──

class Reader {
  readonly problems: ErrorDetail[] = [];

  fail(field: string, problem: string): undefined {
    this.problems.push({ field, problem });
    return undefined;
  }

  object(value: unknown, field: string): Record<string, unknown> | undefined {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
    return this.fail(field || 'body', 'must be a JSON object');
  }

  /** A string; "" and null become null; absent is null unless required. */
  text(value: unknown, field: string, options: { required?: boolean; max?: number } = {}): string | null {
    if (value === undefined || value === null || value === '') {
      if (options.required) this.fail(field, 'is required');
      return null;
    }
    if (typeof value !== 'string') return this.fail(field, 'must be a string') ?? null;
    if (value.length > (options.max ?? MAX_TEXT)) {
      return this.fail(field, `must be at most ${options.max ?? MAX_TEXT} characters`) ?? null;
    }
    return value;
  }

  uuid(value: unknown, field: string): string | null {
    const text = this.text(value, field, { required: true, max: 64 });
    if (text === null) return null;
    if (!UUID.test(text)) return this.fail(field, 'must be a UUID') ?? null;
    return text.toLowerCase();
  }

  timestamp(value: unknown, field: string): Date | null {
    const text = this.text(value, field, { max: 64 });
    if (text === null) return null;
    return parseTimestamp(text) ?? this.fail(field, 'must be a timestamp such as 2024-04-26 12:25:57') ?? null;
  }

  date(value: unknown, field: string): string | null {
    const text = this.text(value, field, { max: 32 });
    if (text === null) return null;
    return parseDate(text) ?? this.fail(field, 'must be a date as DD/MM/YYYY or YYYY-MM-DD') ?? null;
  }

  dateRange(value: unknown, field: string): DateRange | null {
    if (value === undefined || value === null || value === '') return null;
    const range = this.object(value, field);
    if (!range) return null;
    return { from_date: this.date(range.from_date, `${field}.from_date`), to_date: this.date(range.to_date, `${field}.to_date`) };
  }

  array<T>(value: unknown, field: string, max: number, item: (value: unknown, field: string) => T | undefined): T[] | null {
    if (value === undefined || value === null) return null;
    if (!Array.isArray(value)) return this.fail(field, 'must be an array') ?? null;
    if (value.length > max) return this.fail(field, `must have at most ${max} items`) ?? null;
    const items: T[] = [];
    value.forEach((element, index) => {
      const parsed = item(element, `${field}[${index}]`);
      if (parsed !== undefined) items.push(parsed);
    });
    return items;
  }

  word(value: unknown, field: string): string | null {
    const text = this.text(value, field, { max: 64 });
    return text === null ? null : normaliseWord(text);
  }

  boolean(value: unknown, field: string): boolean {
    if (typeof value === 'boolean') return value;
    if (value === 'true' || value === 'false') return value === 'true';
    this.fail(field, value === undefined || value === null ? 'is required' : 'must be a boolean');
    return false;
  }

  throwIfFailed(): void {
    if (this.problems.length > 0) throw new PayloadError(this.problems);
  }
}

// ── Shapes ─────────────────────────────────────────────────────────────────

function readStatement(r: Reader, value: unknown, field: string): FinboxStatement | undefined {
  const s = r.object(value, field);
  if (!s) return undefined;
  return {
    statement_id: r.text(s.statement_id, `${field}.statement_id`, { required: true, max: 128 }) ?? '',
    statement_status: r.text(s.statement_status, `${field}.statement_status`, { max: 64 }),
    error_code: r.text(s.error_code, `${field}.error_code`, { max: 128 }),
    error_message: r.text(s.error_message, `${field}.error_message`),
    source: r.text(s.source, `${field}.source`, { max: 64 }),
    statement_date_range: r.dateRange(s.statement_date_range, `${field}.statement_date_range`) ?? {
      from_date: null,
      to_date: null,
    },
    created_at: r.timestamp(s.created_at, `${field}.created_at`),
  };
}

function readAccount(r: Reader, value: unknown, field: string): FinboxAccount | undefined {
  const a = r.object(value, field);
  if (!a) return undefined;
  const month = (m: unknown, f: string) => {
    const text = r.text(m, f, { required: true, max: 7 });
    if (text === null) return undefined;
    return /^\d{4}-(0[1-9]|1[0-2])$/.test(text) ? text : r.fail(f, 'must be a month as YYYY-MM');
  };
  return {
    account_id: r.text(a.account_id, `${field}.account_id`, { required: true, max: 128 }) ?? '',
    account_number: r.text(a.account_number, `${field}.account_number`, { max: 64 }),
    bank_name: r.text(a.bank_name, `${field}.bank_name`, { max: 128 }),
    account_status: r.word(a.account_status, `${field}.account_status`),
    months: r.array(a.months, `${field}.months`, 1_200, month),
    missing_data: r.array(a.missing_data, `${field}.missing_data`, 1_000, (v, f) => r.dateRange(v, f) ?? undefined),
    created_at: r.timestamp(a.created_at, `${field}.created_at`),
    last_updated_at: r.timestamp(a.last_updated_at, `${field}.last_updated_at`),
    statements: r.array(a.statements, `${field}.statements`, MAX_STATEMENTS, (v, f) => readStatement(r, v, f)) ?? [],
  };
}

function readAccounts(r: Reader, value: unknown): FinboxAccount[] {
  const accounts = r.array(value, 'accounts', MAX_ACCOUNTS, (v, f) => readAccount(r, v, f)) ?? [];
  const statements = accounts.reduce((total, account) => total + account.statements.length, 0);
  if (statements > MAX_STATEMENTS) r.fail('accounts', `must hold at most ${MAX_STATEMENTS} statements in all`);
  return accounts;
}

function readEnrichment(r: Reader, body: Record<string, unknown>): Enrichment {
  const account = (value: unknown, field: string): EnrichmentAccount | undefined => {
    const a = r.object(value, field);
    if (!a) return undefined;
    return {
      account_id: r.text(a.account_id, `${field}.account_id`, { required: true, max: 128 }) ?? '',
      status: r.text(a.account_status ?? a.status, `${field}.account_status`, { max: 64 })?.trim().toLowerCase() ?? null,
      error_code: r.text(a.error_code, `${field}.error_code`, { max: 128 }),
      error_message: r.text(a.error_message, `${field}.error_message`),
    };
  };
  return {
    insights_available: r.boolean(body.insights_available, 'insights_available'),
    accounts: r.array(body.accounts, 'accounts', MAX_ACCOUNTS, account) ?? [],
  };
}

/** A webhook body → the event it announces. Throws PayloadError naming each bad field. */
export function parseWebhook(body: unknown): WebhookEvent {
  const r = new Reader();
  const b = r.object(body, 'body');
  if (!b) throw new PayloadError(r.problems);
  const session_id = r.uuid(b.session_id, 'session_id') ?? '';
  const rawName = r.text(b.event_name, 'event_name', { required: true, max: 128 });
  const event_name = rawName === null ? '' : normaliseWord(rawName);

  let event: WebhookEvent;
  if (COMPLETION_EVENTS.includes(event_name) || event_name === EXPIRY_EVENT) {
    event = {
      kind: event_name === EXPIRY_EVENT ? 'expiry' : 'completion',
      session_id,
      event_name,
      accounts: readAccounts(r, b.accounts),
      session_date_range: r.dateRange(b.session_date_range, 'session_date_range'),
    };
  } else if (event_name === ENRICHMENT_EVENT) {
    event = { kind: 'enrichment', session_id, event_name, enrichment: readEnrichment(r, b) };
  } else {
    event = { kind: 'unknown', session_id, event_name };
  }
  r.throwIfFailed();
  return event;
}

/** A session_upload_status 200 body → its normalised content. Throws PayloadError naming each bad field. */
export function parseUploadStatus(body: unknown): UploadStatusResponse {
  const r = new Reader();
  const b = r.object(body, 'body');
  if (!b) throw new PayloadError(r.problems);
  const status = r.word(b.upload_status, 'upload_status');
  if (status === null) r.fail('upload_status', 'is required');
  else if (!UPLOAD_STATUSES.includes(status as UploadStatus)) r.fail('upload_status', 'is not a known upload status');
  const response: UploadStatusResponse = {
    session_id: r.uuid(b.session_id, 'session_id') ?? '',
    upload_status: status as UploadStatus,
    session_date_range: r.dateRange(b.session_date_range, 'session_date_range'),
    expires_at: r.timestamp(b.session_expiry_timestamp, 'session_expiry_timestamp'),
    accounts: readAccounts(r, b.accounts),
  };
  r.throwIfFailed();
  return response;
}

/** The session a payload names, when it names a valid one (used for payloads that failed validation). */
export function sessionIdOf(body: unknown): string | null {
  const id = (body as { session_id?: unknown } | null)?.session_id;
  return typeof id === 'string' && UUID.test(id.trim()) ? id.trim().toLowerCase() : null;
}
