import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  IsIn,
  IsInt,
  IsISO8601,
  IsObject,
  IsOptional,
  IsString,
  IsUUID,
  Max,
  MaxLength,
  Min,
  MinLength,
  ValidateBy,
} from 'class-validator';
import { SESSION_STATUSES, type SessionStatus } from './session-status.js';

const METADATA_MAX_BYTES = 8 * 1024;

/** metadata serialised as JSON must fit in 8 KiB. */
const FitsInJson = (maxBytes: number) =>
  ValidateBy({
    name: 'fitsInJson',
    validator: {
      validate: (value: unknown) => Buffer.byteLength(JSON.stringify(value) ?? '') <= maxBytes,
      defaultMessage: () => `must be at most ${maxBytes} bytes as JSON`,
    },
  });

export class RegisterSessionDto {
  @ApiProperty({ format: 'uuid', example: '409ed817-b824-4818-a7f7-dc532ce0d8fc' })
  @IsUUID('all')
  session_id: string;

  @ApiPropertyOptional({ maxLength: 128, description: "The caller's own id for the session" })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(128)
  reference?: string;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true, description: 'Any JSON object, at most 8 KiB' })
  @IsOptional()
  @IsObject()
  @FitsInJson(METADATA_MAX_BYTES)
  metadata?: Record<string, unknown>;
}

export class ListSessionsQuery {
  @ApiPropertyOptional({ enum: SESSION_STATUSES })
  @IsOptional()
  @IsIn(SESSION_STATUSES)
  status?: SessionStatus;

  @ApiPropertyOptional({ maxLength: 128 })
  @IsOptional()
  @IsString()
  @MaxLength(128)
  reference?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'Only sessions changed after this instant' })
  @IsOptional()
  @IsISO8601({ strict: true, strictSeparator: true })
  updated_after?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 500, default: 100 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(500)
  limit?: number;

  @ApiPropertyOptional({ description: 'next_cursor from the previous page' })
  @IsOptional()
  @IsString()
  @MaxLength(256)
  cursor?: string;
}

export class ListEventsQuery {
  @ApiPropertyOptional({ minimum: 1, maximum: 500, default: 100 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(500)
  limit?: number;

  @ApiPropertyOptional({ description: 'next_cursor from the previous page' })
  @IsOptional()
  @IsString()
  @MaxLength(256)
  cursor?: string;
}
