import { ParseUUIDPipe, ValidationError, ValidationPipe } from '@nestjs/common';
import { AppError, type ErrorDetail } from './errors.js';

/** class-validator errors → one VALIDATION_FAILED detail per field (nested fields as `a.b`). */
export function toDetails(errors: ValidationError[], parent = ''): ErrorDetail[] {
  return errors.flatMap((error) => {
    const field = parent ? `${parent}.${error.property}` : error.property;
    const own = Object.values(error.constraints ?? {}).map((message) => ({
      field,
      problem: message.startsWith(`${error.property} `) ? message.slice(error.property.length + 1) : message,
    }));
    return [...own, ...toDetails(error.children ?? [], field)];
  });
}

/** The global pipe: DTOs validated and converted; failures in the contract's envelope. */
export const validationPipe = new ValidationPipe({
  transform: true,
  whitelist: true,
  stopAtFirstError: true,
  exceptionFactory: (errors) => AppError.validation(toDetails(errors)),
});

/** `{session_id}` path parameters. */
export const SessionIdPipe = new ParseUUIDPipe({
  version: 'all',
  exceptionFactory: () => AppError.validation([{ field: 'session_id', problem: 'must be a UUID' }]),
});
