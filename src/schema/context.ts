/** What every resolver gets, on every transport: built fresh per HTTP request and per WebSocket operation. */
import type { Caller } from '../domain/caller.ts';
import type { JobsService } from '../jobs/service.ts';

export interface GraphQLContext {
  jobs: JobsService;
  /** Who is asking (tenant, user, role); every job read or written is checked against it (domain/caller.ts). */
  caller: Caller;
  /** Correlates this operation's log lines and upstream calls. */
  requestId: string;
  /** Over HTTP/SSE with a token: when the token expires (epoch ms); a subscription stream ends then. */
  streamEndsAt?: number;
}
