/**
 * The port to fal's platform API (https://api.fal.ai/v1): what fal knows about an endpoint's
 * requests and what they cost. The jobs layer uses it to find a job whose submit outcome is unknown
 * (adopt-orphans.ts); billing reconciliation uses `billingEvents`. Only `fal-platform-client.ts`
 * knows its URLs and JSON; nothing here holds a credential.
 */
import type { VideoInput } from '../domain/job.ts';
import type { CallOptions } from './upstream-queue.ts';

export interface PlatformRequest {
  requestId: string;
  /** ISO-8601 instants; null when fal does not say (e.g. not started yet). */
  startedAt: string | null;
  endedAt: string | null;
  /** The HTTP status the run ended with (200 success); null while it runs. */
  statusCode: number | null;
  /** The request's input as fal stored it (`expand=payloads`), unparsed. */
  input: unknown;
  /** The same input in domain terms, or null when it is not this model's input shape. */
  videoInput: VideoInput | null;
}

export interface BillingEvent {
  requestId: string;
  /** fal's cost estimate in nano-USD (1e-9 USD): $0.35 is 350,000,000. */
  costNanoUsd: number;
  timestamp: string;
}

export interface ListRequestsQuery {
  endpointId: string;
  start: Date;
  end: Date;
  /** At most this many requests (fal pages by 100; default 100). */
  limit?: number;
}

export interface BillingEventsQuery {
  endpointId: string;
  requestIds: string[];
  start: Date;
  end: Date;
}

export interface PlatformApi {
  /** GET /v1/models/requests/by-endpoint?expand=payloads: the endpoint's requests in [start, end), newest first. */
  listRequests(query: ListRequestsQuery, options?: CallOptions): Promise<PlatformRequest[]>;
  /** GET /v1/models/billing-events: what fal billed for these requests (failed or cancelled ones have none). */
  billingEvents(query: BillingEventsQuery, options?: CallOptions): Promise<BillingEvent[]>;
  close(): Promise<void>;
}
