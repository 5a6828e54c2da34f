import { nextPoll, type ScheduleInput, type ScheduleSettings } from './poll-schedule.js';

const settings: ScheduleSettings = { minIntervalSeconds: 60, maxIntervalSeconds: 3600, maxAgeHours: 72 };
const T0 = new Date('2024-04-26T12:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
const SECOND = 1000;
const HOUR = 3_600_000;

function input(overrides: Partial<ScheduleInput> = {}): ScheduleInput {
  return { now: at(HOUR), attempts: 1, trackedSince: T0, expiresAt: null, random: 0.5, ...overrides };
}

/** Delay of the next poll after `now`, in ms. */
function delay(overrides: Partial<ScheduleInput> = {}, config = settings): number {
  const i = input(overrides);
  const sut = nextPoll(i, config);
  expect(sut.gave_up).toBe(false);
  return sut.next_poll_at.getTime() - i.now.getTime();
}

describe('nextPoll', () => {
  it('doubles the interval with each attempt, from the minimum up to the maximum (no jitter at random = 0.5)', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((attempts) => delay({ attempts }))).toEqual(
      [60, 120, 240, 480, 960, 1920, 3600, 3600].map((s) => s * SECOND),
    );
  });

  it('keeps the jittered delay within ±20 % and always between the minimum and the maximum', () => {
    for (const attempts of [1, 2, 3, 6, 7, 50, 10_000]) {
      for (const random of [0, 0.25, 0.5, 0.75, 0.999999]) {
        const ms = delay({ attempts, random });
        const base = Math.min(3600, 60 * 2 ** Math.min(attempts - 1, 30)) * SECOND;
        expect(ms).toBeGreaterThanOrEqual(60 * SECOND);
        expect(ms).toBeLessThanOrEqual(3600 * SECOND);
        expect(ms).toBeGreaterThanOrEqual(Math.min(3600 * SECOND, Math.max(60 * SECOND, base * 0.8)) - 1);
        expect(ms).toBeLessThanOrEqual(Math.max(60 * SECOND, base * 1.2) + 1);
      }
    }
  });

  it('spreads sessions polled at the same moment (jitter comes from Math.random by default)', () => {
    const delays = new Set(Array.from({ length: 20 }, () => delay({ attempts: 3, random: undefined })));
    expect(delays.size).toBeGreaterThan(10);
  });

  it('treats attempts below 1 like the first attempt', () => {
    expect(delay({ attempts: 0 })).toBe(60 * SECOND);
  });

  it("never polls sooner than FinBox's Retry-After, even beyond the maximum interval", () => {
    expect(delay({ retryAfterMs: 90 * SECOND })).toBe(90 * SECOND);
    expect(delay({ retryAfterMs: 2 * 3600 * SECOND })).toBe(2 * 3600 * SECOND);
    expect(delay({ retryAfterMs: 10 * SECOND })).toBe(60 * SECOND);
    expect(delay({ retryAfterMs: null })).toBe(60 * SECOND);
  });

  it('polls once more just after the expiry time instead of sleeping past it', () => {
    const expiresAt = at(HOUR + 30 * SECOND);
    expect(nextPoll(input({ expiresAt }), settings)).toEqual({ next_poll_at: at(HOUR + 35 * SECOND), gave_up: false });
  });

  it('does not move a poll that comes before the expiry anyway', () => {
    const expiresAt = at(HOUR + 61 * SECOND);
    expect(nextPoll(input({ expiresAt }), settings).next_poll_at).toEqual(at(HOUR + 60 * SECOND));
  });

  it("honours Retry-After even when it points past the expiry time", () => {
    const expiresAt = at(HOUR + 30 * SECOND);
    expect(delay({ expiresAt, retryAfterMs: 120 * SECOND })).toBe(120 * SECOND);
  });

  it('gives up after the poll just after the expiry time', () => {
    const sut = nextPoll(input({ expiresAt: at(HOUR - 5 * SECOND) }), settings);
    expect(sut.gave_up).toBe(true);
    expect(nextPoll(input({ expiresAt: at(HOUR - 60 * SECOND) }), settings).gave_up).toBe(true);
  });

  it('does not count a poll in the first seconds after the expiry as the last one (FinBox has not flipped yet)', () => {
    for (const expiresAt of [at(HOUR), at(HOUR - 1), at(HOUR - 4_999)]) {
      const sut = nextPoll(input({ expiresAt }), settings);
      expect(sut).toEqual({ next_poll_at: new Date(expiresAt.getTime() + 5 * SECOND), gave_up: false });
    }
  });

  it('gives up once the session is RECONCILE_MAX_AGE_HOURS old', () => {
    expect(nextPoll(input({ now: at(72 * HOUR) }), settings).gave_up).toBe(true);
    expect(nextPoll(input({ now: at(72 * HOUR - 1) }), settings).gave_up).toBe(false);
  });

  it('makes the last poll at the max-age deadline rather than after it', () => {
    const sut = nextPoll(input({ now: at(72 * HOUR - 10 * SECOND), attempts: 20 }), settings);
    expect(sut).toEqual({ next_poll_at: at(72 * HOUR), gave_up: false });
  });

  it('works with fractional settings (tests use sub-second intervals and max ages)', () => {
    const tiny: ScheduleSettings = { minIntervalSeconds: 0.2, maxIntervalSeconds: 0.5, maxAgeHours: 0.0005 };
    const start = { trackedSince: at(0), now: at(100) };
    expect([1, 2, 3].map((attempts) => delay({ ...start, attempts }, tiny))).toEqual([200, 400, 500]);
    expect(nextPoll(input({ ...start, now: at(1700) }), tiny).next_poll_at).toEqual(at(1800));
    expect(nextPoll(input({ ...start, now: at(1800) }), tiny).gave_up).toBe(true);
  });

  it('never schedules a given-up session "at once" (a caller that keeps it must not poll it in a loop)', () => {
    const sut = nextPoll(input({ now: at(80 * HOUR) }), settings);
    expect(sut.gave_up).toBe(true);
    expect(sut.next_poll_at.getTime()).toBeGreaterThanOrEqual(at(80 * HOUR).getTime() + 60 * SECOND);
  });
});
