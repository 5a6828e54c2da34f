import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Constant-time: compares fixed-length digests and checks every accepted secret, whichever matches. */
export function matchesAny(candidate: string | undefined, accepted: readonly string[]): boolean {
  if (!candidate) return false;
  const presented = digest(candidate);
  let match = false;
  for (const secret of accepted) match = timingSafeEqual(presented, digest(secret)) || match;
  return match;
}
