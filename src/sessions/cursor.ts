import { AppError } from '../common/errors.js';

/**
 * Opaque pagination cursors: base64url of "<kind>:<part>:<part>". Anything
 * that does not decode to the expected kind and shape was not issued by this
 * service and is VALIDATION_FAILED (never a database error: numbers are
 * checked against Postgres' bigint range here).
 */
type Kind = 'session' | 'event';

const BIGINT = /^\d{1,19}$/;
const MAX_BIGINT = 2n ** 63n - 1n;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const SHAPES: Record<Kind, RegExp[]> = {
  session: [BIGINT, UUID],
  event: [BIGINT],
};

export function encodeCursor(kind: Kind, parts: string[]): string {
  return Buffer.from(`${kind}:${parts.join(':')}`).toString('base64url');
}

export function decodeCursor(cursor: string, kind: Kind): string[] {
  const [prefix, ...parts] = Buffer.from(cursor, 'base64url').toString('utf8').split(':');
  const shapes = SHAPES[kind];
  const valid =
    prefix === kind &&
    parts.length === shapes.length &&
    parts.every((part, index) => shapes[index].test(part) && (shapes[index] !== BIGINT || BigInt(part) <= MAX_BIGINT)) &&
    encodeCursor(kind, parts) === cursor; // the one spelling this service issues
  if (!valid) throw AppError.validation([{ field: 'cursor', problem: 'is not a cursor issued by this service' }]);
  return parts;
}
