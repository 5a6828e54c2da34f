/**
 * Reads the service's own GET /metrics (Prometheus text). prom-client's
 * event-loop lag gauges cover the time since the previous scrape, so a scrape
 * before and one after a run give the lag during the run.
 */
export type Scrape = Map<string, number>;

export async function scrape(baseUrl: string): Promise<Scrape> {
  const metrics: Scrape = new Map();
  try {
    const response = await fetch(baseUrl + '/metrics', { signal: AbortSignal.timeout(5_000) });
    const text = await response.text();
    for (const line of text.split('\n')) {
      if (!line || line.startsWith('#')) continue;
      const space = line.lastIndexOf(' ');
      const value = Number(line.slice(space + 1));
      if (Number.isFinite(value)) metrics.set(line.slice(0, space), value);
    }
  } catch {
    // no metrics: the figures below come out as null
  }
  return metrics;
}

/** Sum of every series of `name` whose labels contain all of `labels` (e.g. 'endpoint="session_upload_status"'). */
export function sum(metrics: Scrape, name: string, ...labels: string[]): number | null {
  let total: number | null = null;
  for (const [key, value] of metrics) {
    const brace = key.indexOf('{');
    const metric = brace < 0 ? key : key.slice(0, brace);
    if (metric !== name) continue;
    if (!labels.every((label) => key.includes(label))) continue;
    total = (total ?? 0) + value;
  }
  return total;
}

export interface ServiceView {
  /** Event-loop delay of the service during the run (prom-client, since the previous scrape), ms. */
  loopLagP99Ms: number | null;
  loopLagMaxMs: number | null;
  /** Mean latency of the service's FinBox calls, as it measured them, ms. */
  finboxMeanMs: number | null;
}

/** What the service's metrics say about the period between two scrapes. */
export function between(before: Scrape, after: Scrape): ServiceView {
  const ms = (value: number | null) => (value === null ? null : value * 1000);
  const delta = (name: string, ...labels: string[]) => {
    const a = sum(after, name, ...labels);
    const b = sum(before, name, ...labels) ?? 0;
    return a === null ? null : a - b;
  };
  const count = delta('finbox_request_duration_seconds_count', 'session_upload_status');
  const total = delta('finbox_request_duration_seconds_sum', 'session_upload_status');
  return {
    loopLagP99Ms: ms(sum(after, 'nodejs_eventloop_lag_p99_seconds')),
    loopLagMaxMs: ms(sum(after, 'nodejs_eventloop_lag_max_seconds')),
    finboxMeanMs: count && total !== null ? (total / count) * 1000 : null,
  };
}
