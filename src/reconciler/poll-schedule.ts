/**
 * When a session is polled next (CONTRACT §2 reconciler variables, §5):
 * exponential backoff with jitter between the min and max interval, never
 * sooner than FinBox's Retry-After, one last poll just after FinBox's expiry
 * time, and giving up once the session is RECONCILE_MAX_AGE_HOURS old.
 */
export interface ScheduleSettings {
  minIntervalSeconds: number;
  maxIntervalSeconds: number;
  maxAgeHours: number;
}

export interface ScheduleInput {
  now: Date;
  /** Polls made so far, including the one just made. */
  attempts: number;
  trackedSince: Date;
  expiresAt: Date | null;
  retryAfterMs?: number | null;
  /** 0 ≤ random < 1; injectable for tests. */
  random?: number;
}

export interface Schedule {
  next_poll_at: Date;
  /** The session leaves the queue (gave_up_at is set). */
  gave_up: boolean;
}

/** Delay after FinBox's expiry time before the last poll. */
const AFTER_EXPIRY_MS = 5_000;

export function nextPoll(input: ScheduleInput, settings: ScheduleSettings): Schedule {
  const now = input.now.getTime();
  const deadline = input.trackedSince.getTime() + settings.maxAgeHours * 3_600_000;
  const expiry = input.expiresAt?.getTime();
  if (now >= deadline || (expiry !== undefined && now > expiry)) {
    return { next_poll_at: input.now, gave_up: true };
  }

  const min = settings.minIntervalSeconds * 1000;
  const max = settings.maxIntervalSeconds * 1000;
  const exponential = min * 2 ** Math.min(Math.max(input.attempts - 1, 0), 30);
  const jitter = 0.8 + 0.4 * (input.random ?? Math.random());
  let delay = Math.min(max, Math.max(min, Math.min(max, exponential) * jitter));
  delay = Math.max(delay, input.retryAfterMs ?? 0);

  let next = now + delay;
  if (expiry !== undefined && next > expiry) next = expiry + AFTER_EXPIRY_MS;
  return { next_poll_at: new Date(Math.min(next, deadline)), gave_up: false };
}
