/**
 * Public types of the FinBox sandbox. Field names in snake_case are the ones
 * that also travel as JSON over the control API.
 */

export interface SandboxOptions {
  /** 0 picks a free port (default 0). */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Expected `x-api-key` header. Default 'sandbox-api-key'. */
  apiKey?: string;
  /** Expected `server-hash` header. Default 'sandbox-server-hash'. */
  serverHash?: string;
  /** Prefix of the FinBox API, before the 'v1' segment. Default '/bank-connect'. */
  basePath?: string;
  /** Added to every FinBox API response. Default 0. */
  latencyMs?: number;
  /** Where webhooks go; update_webhook calls replace it. */
  webhookUrl?: string;
  /** 'error': 403 ACCESS_DENIED (default); 'detail': 401 {"detail": ...}. */
  authErrorStyle?: 'error' | 'detail';
  /** Webhook faults for every session that does not override them. */
  webhookFaults?: WebhookFaults;
  /** Receives one line per request and per webhook delivery. */
  log?: (line: string) => void;
}

export interface WebhookFaults {
  /** Record the delivery (status -1) but do not send it. */
  drop?: boolean;
  /** Send the webhook twice. */
  duplicate?: boolean;
  /** Send the webhook this many ms after the event. */
  delayMs?: number;
}

export interface SessionSpec {
  /** Default crypto.randomUUID(). Letters, digits, '-' and '_' only. */
  session_id?: string;
  /** NO_UPLOAD until then, IN_PROGRESS after. Default 0. */
  in_progress_after_ms?: number;
  /** Default 1000; null: never completes. */
  complete_after_ms?: number | null;
  /** session_expiry_timestamp = creation + this. Default 3_600_000. */
  expire_after_ms?: number;
  /** Per-session override of the default webhook faults, field by field. */
  webhooks?: WebhookFaults;
  /** ENRICHMENT_NOTIFICATION this long after completion; null (default): none. */
  enrichment_after_ms?: number | null;
  /** Send the failure shape of the enrichment webhook. */
  enrichment_failed?: boolean;
  /** Number of accounts, each with one statement. Default 1. */
  accounts?: number;
}

export type Endpoint = 'upload_status' | 'update_webhook';

export interface Fault {
  type: 'status' | 'hang' | 'reset' | 'latency';
  /** For 'status': the HTTP status to answer with. */
  status?: number;
  /** Sent as the Retry-After header when given (seconds or HTTP date). */
  retry_after?: string;
  /** For 'latency': added to the response time. */
  latency_ms?: number;
  /** Applies to this many matching requests, then is removed. Default: until cleared. */
  times?: number;
  /** Only requests for this session (upload_status only). */
  session_id?: string;
  /** Only this endpoint. Default: both. */
  endpoint?: Endpoint;
}

export type WebhookEvent = 'completion' | 'expiry' | 'enrichment';

export type UploadStatus = 'NO_UPLOAD' | 'IN_PROGRESS' | 'COMPLETED' | 'EXPIRED';

export interface WebhookDelivery {
  session_id: string;
  event_name: string;
  /** HTTP status; 0 on connection error or timeout; -1 when dropped by a fault. */
  status: number;
  /** When the attempt was made (ISO 8601). */
  at: string;
  /** True for the second copy sent by the 'duplicate' fault. */
  duplicate: boolean;
}

export interface SandboxStats {
  /** FinBox API requests (not /_control). */
  total_requests: number;
  by_endpoint: Record<string, number>;
  /** HTTP status, or 'hang' / 'reset' / 'aborted' (client left before the answer). */
  by_status: Record<string, number>;
  polls_by_session: Record<string, number>;
  /** Unix second (as a string) → requests that arrived in it. */
  per_second: Record<string, number>;
  /** Busiest calendar second. */
  max_per_second: number;
  /** Busiest sliding 1000 ms window, by arrival time. */
  max_in_any_1s_window: number;
  /** Most upload_status requests in flight at once for one session. */
  max_concurrent_per_session: number;
  /** Most API requests in flight at once overall. */
  max_concurrent: number;
  first_request_at: string | null;
  last_request_at: string | null;
}

/** The simulator's own view of a session (GET /_control/sessions/:id). */
export interface SessionView {
  session_id: string;
  upload_status: UploadStatus | 'DELETED';
  created_at: string;
  in_progress_at: string;
  /** When it completes (or completed); null if it expires first or never completes. */
  completes_at: string | null;
  expires_at: string;
  enrichment_at: string | null;
  /** Effective webhook faults (session override over the defaults). */
  webhooks: WebhookFaults;
  accounts: { account_id: string; account_number: string; bank_name: string; statement_id: string }[];
}

export interface RegisteredWebhook {
  webhook_url: string;
  webhook_mode: unknown;
}

export interface Sandbox {
  /** The service's FINBOX_BASE_URL, e.g. http://127.0.0.1:4010/bank-connect ('v1' goes after it). */
  baseUrl: string;
  /** e.g. http://127.0.0.1:4010/_control */
  controlUrl: string;
  apiKey: string;
  serverHash: string;
  /** expires_at is ISO 8601. */
  createSession(spec?: SessionSpec): { session_id: string; expires_at: string };
  /** Every later call for the session answers 410; its pending webhooks are cancelled. */
  deleteSession(id: string): void;
  describeSession(id: string): SessionView;
  addFault(fault: Fault): void;
  clearFaults(): void;
  setLatency(ms: number): void;
  setWebhookUrl(url: string | undefined): void;
  setWebhookFaults(faults: WebhookFaults): void;
  /** Sends the webhook now, ignoring webhook faults; resolves to the HTTP status (0: connection error). */
  fireWebhook(sessionId: string, event: WebhookEvent): Promise<number>;
  stats(): SandboxStats;
  resetStats(): void;
  /** Every webhook attempt, oldest first. */
  deliveries(): WebhookDelivery[];
  /** Stats, faults and deliveries (what POST /_control/reset does). */
  reset(): void;
  /** The last successful update_webhook call. */
  registeredWebhook(): RegisteredWebhook | undefined;
  /** Stops timers and the server; pending webhooks are cancelled. */
  close(): Promise<void>;
}

/** A rejected control call; statusCode is what the control API answers with. */
export class SandboxError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'SandboxError';
  }
}
