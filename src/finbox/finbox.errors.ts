/**
 * Every way a FinBox call can fail (CONTRACT §5). `kind` doubles as the poll
 * outcome recorded in a session's history and in the `polls_total` metric.
 */
export type FinboxFailure =
  | 'not_found' // 404 SESSION_NOT_FOUND: terminal, not retried
  | 'deleted' // 410 SESSION_DELETED: terminal, not retried
  | 'access_denied' // 401/403: credentials are wrong; opens the circuit, stops the pass
  | 'rate_limited' // 429: retried, honouring Retry-After
  | 'unavailable' // 5xx, connection refused or reset: retried
  | 'timeout' // no answer within FINBOX_TIMEOUT_MS: retried
  | 'invalid_response' // an answer we cannot read (unexpected status or body): not retried
  | 'circuit_open' // the circuit breaker refused to call
  | 'not_configured'; // FINBOX_API_KEY / FINBOX_SERVER_HASH unset

const TRANSIENT: ReadonlySet<FinboxFailure> = new Set(['rate_limited', 'unavailable', 'timeout']);

export class FinboxError extends Error {
  constructor(
    readonly kind: FinboxFailure,
    message: string,
    readonly httpStatus: number | null = null,
    /** From a Retry-After header, in milliseconds. */
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
    this.name = 'FinboxError';
  }

  get transient(): boolean {
    return TRANSIENT.has(this.kind);
  }
}

/** An HTTP date in any of its three forms (RFC 9110 §5.6.7): they all start with a day name and hold hh:mm:ss. */
const HTTP_DATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,? .*\b\d{2}:\d{2}:\d{2}\b/i;

/**
 * Retry-After as delay-seconds or an HTTP date → milliseconds from `now`, or
 * null when absent or unreadable. A date in the past means "now" (0).
 * (Date.parse alone is too lenient: it reads "-1" or "2025" as dates.)
 */
export function parseRetryAfter(value: unknown, now = Date.now()): number | null {
  if (typeof value !== 'string' || value.trim() === '') return null;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  if (!HTTP_DATE.test(text)) return null;
  // asctime's form carries no zone; HTTP dates are always GMT.
  const date = Date.parse(/\b(GMT|UTC)\b/i.test(text) ? text : `${text} GMT`);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}
