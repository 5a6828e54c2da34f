import { applyDecorators } from '@nestjs/common';
import { ApiExtraModels, ApiProperty, ApiResponse, getSchemaPath } from '@nestjs/swagger';
import { ErrorCode, HTTP_STATUS } from './errors.js';

/** OpenAPI models of the error envelope (CONTRACT §4), so every documented error shows the real body. */
export class ErrorDetailView {
  @ApiProperty({ example: 'session_id' })
  field: string;

  @ApiProperty({ example: 'must be a UUID' })
  problem: string;
}

export class ErrorView {
  @ApiProperty({ enum: ErrorCode })
  code: ErrorCode;

  @ApiProperty()
  message: string;

  @ApiProperty({ type: [ErrorDetailView] })
  details: ErrorDetailView[];
}

export class ErrorEnvelopeView {
  @ApiProperty({ type: ErrorView })
  error: ErrorView;
}

/** Documents the given error codes (grouped by HTTP status) with the envelope schema. */
export function ApiErrors(...codes: ErrorCode[]): MethodDecorator & ClassDecorator {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) byStatus.set(HTTP_STATUS[code], [...(byStatus.get(HTTP_STATUS[code]) ?? []), code]);
  return applyDecorators(
    ApiExtraModels(ErrorEnvelopeView),
    ...[...byStatus].map(([status, group]) =>
      ApiResponse({ status, description: group.join(' | '), schema: { $ref: getSchemaPath(ErrorEnvelopeView) } }),
    ),
  );
}
