import { AppError } from '../common/errors.js';

/**
 * Opaque pagination cursors: base64url of "<kind>:<part>:<part>". Anything
 * that does not decode to the expected kind and shape was not issued by this
 * service and is VALIDATION_FAILED.
 */
type Kind = 'session' | 'event';

const SHAPES: Record<Kind, RegExp[]> = {
  session: [/^\d{1,19}$/, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/],
  event: [/^\d{1,19}$/],
};

export function encodeCursor(kind: Kind, parts: string[]): string {
  return Buffer.from(`${kind}:${parts.join(':')}`).toString('base64url');
}

export function decodeCursor(cursor: string, kind: Kind): string[] {
  const [prefix, ...parts] = Buffer.from(cursor, 'base64url').toString('utf8').split(':');
  const shapes = SHAPES[kind];
  const valid =
    /^[A-Za-z0-9_-]+$/.test(cursor) &&
    prefix === kind &&
    parts.length === shapes.length &&
    parts.every((part, index) => shapes[index].test(part));
  if (!valid) throw AppError.validation([{ field: 'cursor', problem: 'is not a cursor issued by this service' }]);
  return parts;
}
