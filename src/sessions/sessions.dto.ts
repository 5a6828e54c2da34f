import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import { IsIn, isISO8601, IsOptional, IsUUID, ValidateBy, type ValidationArguments } from 'class-validator';
import { AppError } from '../common/errors.js';
import { SESSION_STATUSES, type SessionStatus } from './session-status.js';

/**
 * Request DTOs. Each field has ONE validator, so an invalid field gives exactly
 * one VALIDATION_FAILED detail (class-validator reports every failing
 * constraint of a field otherwise: `limit=abc` would be "not an integer", "less
 * than 1" and "greater than 500" at once). Input Postgres cannot store (a NUL
 * character in text or jsonb) is rejected here, never a 500 from the database.
 */

export const REFERENCE_MAX_LENGTH = 128;
export const METADATA_MAX_BYTES = 8 * 1024;
export const METADATA_MAX_DEPTH = 64;
export const LIMIT_MIN = 1;
export const LIMIT_MAX = 500;
const CURSOR_MAX_LENGTH = 256;

/** A string of `min`..`max` characters without NUL. */
const Text = (min: number, max: number) =>
  ValidateBy({
    name: 'text',
    constraints: [min, max],
    validator: {
      validate: (value: unknown) => textProblem(value, min, max) === undefined,
      defaultMessage: (args?: ValidationArguments) => textProblem(args?.value, min, max) ?? 'is invalid',
    },
  });

function textProblem(value: unknown, min: number, max: number): string | undefined {
  if (typeof value !== 'string') return 'must be a string';
  if (value.length < min || value.length > max) return min > 0 ? `must be ${min} to ${max} characters long` : `must be at most ${max} characters long`;
  if (value.includes('\u0000')) return 'must not contain NUL characters';
  return undefined;
}

/**
 * A JSON object of at most `maxBytes` serialised and `maxDepth` levels of
 * nesting. The depth is checked before class-transformer copies the value
 * (its copy is recursive: a deeply nested body would overflow the stack and be
 * a 500); the type function is the one hook it calls before descending.
 */
const JsonObject = (maxBytes: number, maxDepth: number) =>
  applyDecorators(
    Type((help) => {
      if (help && deeperThan(help.object[help.property], maxDepth)) {
        throw AppError.validation([{ field: help.property, problem: `must be nested at most ${maxDepth} levels deep` }]);
      }
      return Object;
    }),
    ValidateBy({
      name: 'jsonObject',
      constraints: [maxBytes, maxDepth],
      validator: {
        validate: (value: unknown) => jsonObjectProblem(value, maxBytes) === undefined,
        defaultMessage: (args?: ValidationArguments) => jsonObjectProblem(args?.value, maxBytes) ?? 'is invalid',
      },
    }),
  );

/** Iterative, so that it cannot overflow the stack itself. The outermost object or array is level 1. */
function deeperThan(value: unknown, maxDepth: number): boolean {
  const pending: Array<[unknown, number]> = [[value, 1]];
  while (pending.length > 0) {
    const [node, depth] = pending.pop()!;
    if (typeof node !== 'object' || node === null) continue;
    if (depth > maxDepth) return true;
    for (const child of Object.values(node)) pending.push([child, depth + 1]);
  }
  return false;
}

function jsonObjectProblem(value: unknown, maxBytes: number): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'must be an object';
  const text = JSON.stringify(value);
  if (Buffer.byteLength(text) > maxBytes) return `must be at most ${maxBytes} bytes as JSON`;
  // JSON escapes NUL as \u0000 (and a backslash as \\): drop escaped backslashes, then look for it.
  if (text.replace(/\\\\/g, '').includes('\\u0000')) return 'must not contain NUL characters';
  return undefined;
}

/** Query string integers: digits only ("1.5", "1e2", "0x10", "" stay strings and fail). */
const QueryInt = (min: number, max: number) =>
  applyDecorators(
    Transform(({ value }: { value: unknown }) => (typeof value === 'string' && /^\d{1,6}$/.test(value) ? Number(value) : value), {
      toClassOnly: true,
    }),
    ValidateBy({
      name: 'queryInt',
      constraints: [min, max],
      validator: {
        validate: (value: unknown) => Number.isInteger(value) && (value as number) >= min && (value as number) <= max,
        defaultMessage: () => `must be an integer from ${min} to ${max}`,
      },
    }),
  );

/**
 * An ISO 8601 date or date-time (strict: real calendar dates) as an instant;
 * a date-time without a zone is UTC, not the server's local time. null when
 * it is not one (week and ordinal dates pass the ISO check but not Date).
 */
export function instantOf(value: unknown): Date | null {
  if (typeof value !== 'string' || !isISO8601(value, { strict: true, strictSeparator: true })) return null;
  const zoned = !value.includes('T') || /(Z|[+-]\d\d(:?\d\d)?)$/i.test(value) ? value : `${value}Z`;
  const instant = new Date(zoned);
  return Number.isNaN(instant.getTime()) ? null : instant;
}

const Instant = () =>
  ValidateBy({
    name: 'instant',
    validator: {
      validate: (value: unknown) => instantOf(value) !== null,
      defaultMessage: () => 'must be an ISO 8601 date-time such as 2024-04-26T12:25:57Z',
    },
  });

export class RegisterSessionDto {
  @ApiProperty({ format: 'uuid', example: '409ed817-b824-4818-a7f7-dc532ce0d8fc', description: 'Any case; stored lowercase' })
  @IsUUID('all', { message: 'must be a UUID' })
  session_id: string;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    minLength: 1,
    maxLength: REFERENCE_MAX_LENGTH,
    example: 'loan-application-8841',
    description: "The caller's own id for the session. Fills a missing reference of an already tracked session; never replaces one.",
  })
  @IsOptional()
  @Text(1, REFERENCE_MAX_LENGTH)
  reference?: string | null;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    nullable: true,
    example: { product: 'personal-loan' },
    description: `Any JSON object, at most ${METADATA_MAX_BYTES} bytes serialised and ${METADATA_MAX_DEPTH} levels deep. Fills empty metadata of an already tracked session; never replaces it.`,
  })
  @IsOptional()
  @JsonObject(METADATA_MAX_BYTES, METADATA_MAX_DEPTH)
  metadata?: Record<string, unknown> | null;
}

export class ListSessionsQuery {
  @ApiPropertyOptional({ enum: SESSION_STATUSES })
  @IsOptional()
  @IsIn(SESSION_STATUSES, { message: `must be one of ${SESSION_STATUSES.join(', ')}` })
  status?: SessionStatus;

  @ApiPropertyOptional({ maxLength: REFERENCE_MAX_LENGTH, description: 'Exact match on reference (empty: no filter)' })
  @IsOptional()
  @Text(0, REFERENCE_MAX_LENGTH)
  reference?: string;

  @ApiPropertyOptional({
    format: 'date-time',
    example: '2024-04-26T12:25:57.000Z',
    description: 'Only sessions changed after this instant (ISO 8601; without a zone: UTC)',
  })
  @IsOptional()
  @Instant()
  updated_after?: string;

  @ApiPropertyOptional({ type: 'integer', minimum: LIMIT_MIN, maximum: LIMIT_MAX, default: 100 })
  @IsOptional()
  @QueryInt(LIMIT_MIN, LIMIT_MAX)
  limit?: number;

  @ApiPropertyOptional({ maxLength: CURSOR_MAX_LENGTH, description: 'next_cursor (or resume_cursor) of an earlier page' })
  @IsOptional()
  @Text(0, CURSOR_MAX_LENGTH)
  cursor?: string;
}

export class ListEventsQuery {
  @ApiPropertyOptional({ type: 'integer', minimum: LIMIT_MIN, maximum: LIMIT_MAX, default: 100 })
  @IsOptional()
  @QueryInt(LIMIT_MIN, LIMIT_MAX)
  limit?: number;

  @ApiPropertyOptional({ maxLength: CURSOR_MAX_LENGTH, description: 'next_cursor of the previous page' })
  @IsOptional()
  @Text(0, CURSOR_MAX_LENGTH)
  cursor?: string;
}
