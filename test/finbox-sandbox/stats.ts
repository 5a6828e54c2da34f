/**
 * Counters over the FinBox API requests, for tests and benchmarks that assert
 * on how the service calls FinBox (rate, concurrency, retries).
 */
import { performance } from 'node:perf_hooks';
import type { Endpoint, SandboxStats } from './types.js';

const WINDOW_MS = 1000;

function increment(counts: Record<string, number>, key: string): number {
  counts[key] = (counts[key] ?? 0) + 1;
  return counts[key];
}

function emptyStats(): SandboxStats {
  return {
    total_requests: 0,
    by_endpoint: {},
    by_status: {},
    polls_by_session: {},
    per_second: {},
    max_per_second: 0,
    max_in_any_1s_window: 0,
    max_concurrent_per_session: 0,
    max_concurrent: 0,
    first_request_at: null,
    last_request_at: null,
  };
}

export class StatsRecorder {
  private stats = emptyStats();
  /** Arrival times (performance.now()) within the last second, oldest first. */
  private recentArrivals: number[] = [];
  /** Live state, kept across resets. */
  private inFlight = 0;
  private inFlightBySession = new Map<string, number>();

  /**
   * Counts a request as it arrives. Returns the function to call when it
   * leaves (answered or socket closed); calling it again does nothing.
   */
  arrive(endpoint: Endpoint, sessionId?: string): () => void {
    const stats = this.stats;
    const now = Date.now();
    const arrival = performance.now();

    stats.total_requests += 1;
    increment(stats.by_endpoint, endpoint);
    if (sessionId !== undefined) increment(stats.polls_by_session, sessionId);
    const second = increment(stats.per_second, String(Math.floor(now / 1000)));
    stats.max_per_second = Math.max(stats.max_per_second, second);
    stats.first_request_at ??= new Date(now).toISOString();
    stats.last_request_at = new Date(now).toISOString();

    // The busiest window ends at some arrival, so checking at each arrival finds it.
    this.recentArrivals.push(arrival);
    while (this.recentArrivals[0] <= arrival - WINDOW_MS) this.recentArrivals.shift();
    stats.max_in_any_1s_window = Math.max(stats.max_in_any_1s_window, this.recentArrivals.length);

    this.inFlight += 1;
    stats.max_concurrent = Math.max(stats.max_concurrent, this.inFlight);
    if (sessionId !== undefined) {
      const forSession = (this.inFlightBySession.get(sessionId) ?? 0) + 1;
      this.inFlightBySession.set(sessionId, forSession);
      stats.max_concurrent_per_session = Math.max(stats.max_concurrent_per_session, forSession);
    }

    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.inFlight -= 1;
      if (sessionId === undefined) return;
      const remaining = (this.inFlightBySession.get(sessionId) ?? 1) - 1;
      if (remaining > 0) this.inFlightBySession.set(sessionId, remaining);
      else this.inFlightBySession.delete(sessionId);
    };
  }

  /** An HTTP status, or 'hang' / 'reset' / 'aborted'. */
  recordOutcome(outcome: string): void {
    increment(this.stats.by_status, outcome);
  }

  snapshot(): SandboxStats {
    return structuredClone(this.stats);
  }

  reset(): void {
    this.stats = emptyStats();
    this.recentArrivals = [];
  }
}
