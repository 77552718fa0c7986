/** What every resolver gets, on every transport: built fresh per HTTP request and per WebSocket operation. */
import type { JobsService } from '../jobs/service.ts';

export interface GraphQLContext {
  jobs: JobsService;
  /** The caller's tenant; every job read or written is scoped to it. */
  tenant: string;
  /** Correlates this operation's log lines and upstream calls. */
  requestId: string;
  /** Set by a transport that already took this subscriber's subscription slot (WebSocket cohorts). */
  quotaHeld?: boolean;
}
