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

/** Retry-After as seconds or an HTTP date → milliseconds from `now`, or null. */
export function parseRetryAfter(value: unknown, now = Date.now()): number | null {
  if (typeof value !== 'string' || value.trim() === '') return null;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const date = Date.parse(text);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}
