import { FinboxError, parseRetryAfter as sut } from './finbox.errors.js';

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-11-13T06:48:44.000Z');

  it('reads delay-seconds', () => {
    expect(sut('0', now)).toBe(0);
    expect(sut('1', now)).toBe(1_000);
    expect(sut('120', now)).toBe(120_000);
    expect(sut(' 5 ', now)).toBe(5_000);
  });

  it('reads fractional seconds, rounded to the millisecond', () => {
    expect(sut('1.5', now)).toBe(1_500);
    expect(sut('0.0004', now)).toBe(0);
  });

  it('reads an HTTP date, in each of its three forms, as the time left until it', () => {
    expect(sut('Thu, 13 Nov 2025 06:48:47 GMT', now)).toBe(3_000);
    expect(sut('Thursday, 13-Nov-25 06:48:47 GMT', now)).toBe(3_000);
    expect(sut('Thu Nov 13 06:48:47 2025', now)).toBe(3_000);
    expect(sut(new Date(now + 90_000).toUTCString(), now)).toBe(90_000);
  });

  it('treats an HTTP date in the past as "retry now"', () => {
    expect(sut('Thu, 13 Nov 2025 06:40:00 GMT', now)).toBe(0);
  });

  it('ignores a missing, empty or unreadable header', () => {
    for (const value of [undefined, null, '', '   ', 'soon', '-1', '1e3', '10s', 'Monday', '13 Nov 2025', 42, ['1']]) {
      expect(sut(value, now)).toBeNull();
    }
  });
});

describe('FinboxError', () => {
  it('marks rate limits, server errors and timeouts as transient, nothing else', () => {
    const transient = ['rate_limited', 'unavailable', 'timeout'] as const;
    const terminal = ['not_found', 'deleted', 'access_denied', 'invalid_response', 'circuit_open', 'not_configured'] as const;
    for (const kind of transient) expect(new FinboxError(kind, kind).transient).toBe(true);
    for (const kind of terminal) expect(new FinboxError(kind, kind).transient).toBe(false);
  });

  it('carries the HTTP status and the Retry-After delay', () => {
    const sut = new FinboxError('rate_limited', 'FinBox: rate limited (429)', 429, 2_000);
    expect(sut).toBeInstanceOf(Error);
    expect(sut).toMatchObject({ name: 'FinboxError', kind: 'rate_limited', httpStatus: 429, retryAfterMs: 2_000 });
  });
});
