/**
 * Checks of untyped input (control API bodies, and the same objects passed
 * in-process). Each parser returns a complete, typed value or throws a
 * SandboxError with status 400.
 */
import { SandboxError, type Endpoint, type Fault, type SessionSpec, type WebhookFaults } from './types.js';

const SESSION_ID = /^[\w-]{1,100}$/;
const FAULT_TYPES: readonly Fault['type'][] = ['status', 'hang', 'reset', 'latency'];
const ENDPOINTS: readonly Endpoint[] = ['upload_status', 'update_webhook'];

export interface ParsedSessionSpec {
  sessionId?: string;
  inProgressAfterMs: number;
  completeAfterMs: number | null;
  expireAfterMs: number;
  enrichmentAfterMs: number | null;
  enrichmentFailed: boolean;
  webhooks: WebhookFaults;
  accounts: number;
}

function invalid(message: string): SandboxError {
  return new SandboxError(400, message);
}

function asObject(value: unknown, name: string): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw invalid(`${name} must be a JSON object`);
  return value as Record<string, unknown>;
}

/** A finite number >= min (and an integer when asked), or the fallback when absent. */
function number(value: unknown, name: string, fallback: number, { min = 0, integer = false } = {}): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
    throw invalid(`${name} must be ${integer ? 'an integer' : 'a number'} >= ${min}`);
  }
  return value;
}

function nullableNumber(value: unknown, name: string, fallback: number | null): number | null {
  if (value === undefined) return fallback;
  return value === null ? null : number(value, name, 0);
}

function boolean(value: unknown, name: string): boolean | undefined {
  if (value === undefined || typeof value === 'boolean') return value;
  throw invalid(`${name} must be a boolean`);
}

function optionalString(value: unknown, name: string): string | undefined {
  if (value === undefined || typeof value === 'string') return value;
  throw invalid(`${name} must be a string`);
}

export function parseLatency(value: unknown, name = 'latency_ms'): number {
  if (value === undefined) throw invalid(`${name} is required`);
  return number(value, name, 0);
}

/** Accepts both the in-process spelling (delayMs) and the JSON one (delay_ms). */
export function parseWebhookFaults(value: unknown, name = 'webhooks'): WebhookFaults {
  const input = asObject(value, name);
  const delay = input.delayMs ?? input.delay_ms;
  const faults: WebhookFaults = {
    drop: boolean(input.drop, `${name}.drop`),
    duplicate: boolean(input.duplicate, `${name}.duplicate`),
    delayMs: delay === undefined ? undefined : number(delay, `${name}.delay_ms`, 0),
  };
  // Keep only the fields given, so a session override never hides a default with `undefined`.
  return Object.fromEntries(Object.entries(faults).filter(([, v]) => v !== undefined)) as WebhookFaults;
}

export function parseSessionSpec(value: unknown): ParsedSessionSpec {
  const spec = asObject(value, 'session spec') as Record<keyof SessionSpec, unknown>;
  const sessionId = optionalString(spec.session_id, 'session_id');
  if (sessionId !== undefined && !SESSION_ID.test(sessionId)) {
    throw invalid('session_id must be 1 to 100 letters, digits, "-" or "_"');
  }
  return {
    sessionId,
    inProgressAfterMs: number(spec.in_progress_after_ms, 'in_progress_after_ms', 0),
    completeAfterMs: nullableNumber(spec.complete_after_ms, 'complete_after_ms', 1000),
    expireAfterMs: number(spec.expire_after_ms, 'expire_after_ms', 3_600_000),
    enrichmentAfterMs: nullableNumber(spec.enrichment_after_ms, 'enrichment_after_ms', null),
    enrichmentFailed: boolean(spec.enrichment_failed, 'enrichment_failed') ?? false,
    webhooks: parseWebhookFaults(spec.webhooks),
    accounts: number(spec.accounts, 'accounts', 1, { min: 1, integer: true }),
  };
}

export function parseFault(value: unknown): Fault {
  const input = asObject(value, 'fault');
  const type = input.type as Fault['type'];
  if (!FAULT_TYPES.includes(type)) throw invalid(`type must be one of ${FAULT_TYPES.join(', ')}`);
  const endpoint = input.endpoint as Endpoint | undefined;
  if (endpoint !== undefined && !ENDPOINTS.includes(endpoint)) {
    throw invalid(`endpoint must be one of ${ENDPOINTS.join(', ')}`);
  }
  const fault: Fault = {
    type,
    retry_after: optionalString(input.retry_after, 'retry_after'),
    times: input.times === undefined ? undefined : number(input.times, 'times', 1, { min: 1, integer: true }),
    session_id: optionalString(input.session_id, 'session_id'),
    endpoint,
  };
  if (type === 'status') {
    if (input.status === undefined) throw invalid('status is required for a status fault');
    fault.status = number(input.status, 'status', 500, { min: 100, integer: true });
    if (fault.status > 599) throw invalid('status must be an HTTP status (100 to 599)');
  }
  if (type === 'latency') fault.latency_ms = parseLatency(input.latency_ms);
  return fault;
}
