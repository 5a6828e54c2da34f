/**
 * When a session is polled next (CONTRACT §2 reconciler variables, §5):
 * exponential backoff with jitter between the min and max interval, never
 * sooner than FinBox's Retry-After, one last poll just after FinBox's expiry
 * time, and giving up once the session is RECONCILE_MAX_AGE_HOURS old.
 *
 * SessionsService applies the schedule; a terminal answer (COMPLETED, EXPIRED,
 * DELETED, NOT_FOUND) takes the session out of the queue whatever it says.
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
  /**
   * FinBox answered this poll (false: the call failed). Only an answer counts as
   * the "one more poll" after expiry; a failed one is retried until the max age.
   */
  answered?: boolean;
  /** 0 ≤ random < 1; injectable for tests. */
  random?: number;
}

export interface Schedule {
  next_poll_at: Date;
  /** The session leaves the queue (gave_up_at is set). */
  gave_up: boolean;
}

/** Delay after FinBox's expiry time before the last poll; a session is past its expiry from then on. */
const AFTER_EXPIRY_MS = 5_000;

export function nextPoll(input: ScheduleInput, settings: ScheduleSettings): Schedule {
  const now = input.now.getTime();
  const min = settings.minIntervalSeconds * 1000;
  const max = settings.maxIntervalSeconds * 1000;
  const deadline = input.trackedSince.getTime() + settings.maxAgeHours * 3_600_000;
  const expiry = input.expiresAt?.getTime();
  // Past the expiry only once FinBox has had AFTER_EXPIRY_MS to show it (its timestamp is to the second, and
  // its status flips a moment later): a poll in between is not the last one.
  const pastExpiry = expiry !== undefined && now >= expiry + AFTER_EXPIRY_MS;
  if (now >= deadline || (pastExpiry && (input.answered ?? true))) {
    // next_poll_at only matters if the caller keeps the session anyway (a terminal answer): never "at once".
    return { next_poll_at: new Date(now + max), gave_up: true };
  }

  const exponential = min * 2 ** Math.min(Math.max(input.attempts - 1, 0), 30);
  const jitter = 0.8 + 0.4 * (input.random ?? Math.random());
  const delay = Math.min(max, Math.max(min, Math.min(max, exponential) * jitter));

  let next = now + delay;
  if (expiry !== undefined && !pastExpiry && next > expiry) next = expiry + AFTER_EXPIRY_MS;
  next = Math.min(next, deadline);
  // FinBox's Retry-After is honoured whatever else says sooner.
  next = Math.max(next, now + (input.retryAfterMs ?? 0));
  return { next_poll_at: new Date(next), gave_up: false };
}
