/**
 * The simulator's shared mutable state, handed to every handler, and the helpers that need only it.
 */
import type { SimClock } from './clock.ts';
import type { FaultRegistry } from './faults.ts';
import type { Job, SimulatorTiming } from './jobs.ts';
import type { WebhookSigner } from './signer.ts';
import type { WebhookDelivery } from './webhooks.ts';

/** Live counters of calls received per operation, faulted ones included. */
export interface SimulatorStats {
  submit: number;
  status: number;
  result: number;
  cancel: number;
  stream: number;
}

/** One request as received: `path` includes the query; `at` is Date.now(). */
export interface RecordedRequest {
  method: string;
  path: string;
  authorization: string | null;
  at: number;
}

export interface State {
  readonly modelPath: string; // '/fal-ai/kling-video/v2.5-turbo/pro/image-to-video'
  readonly appPrefix: string; // 'fal-ai/kling-video'
  /** '' when served on its own port; e.g. '/fal-simulator' when mounted under another server. */
  readonly pathPrefix: string;
  readonly apiKey: string | null;
  readonly clock: SimClock;
  readonly faults: FaultRegistry;
  readonly jobs: Map<string, Job>;
  readonly statusCalls: Map<string, number>;
  /** Status streams open now, per request id. */
  readonly openStreams: Map<string, number>;
  /** Open status streams' wake-ups, per request id: a change off the job's schedule (a cancel) is pushed at once. */
  readonly streamWakers: Map<string, Set<() => void>>;
  readonly stats: SimulatorStats;
  inFlight: { now: number; peak: number };
  /** Filled only with `recordRequests`. */
  readonly requests: RecordedRequest[];
  readonly recordRequests: boolean;
  /** Stops timers of streams and delayed calls; run on close(). */
  readonly cleanups: Set<() => void>;
  readonly streamKeepAliveMs: number;
  readonly signer: WebhookSigner;
  readonly webhookUserId: string;
  readonly webhookRetryMs: number;
  readonly webhookDeliveries: WebhookDelivery[];
  /** The result video's bytes. */
  readonly video: Buffer;
  /** Jobs created (jobs forgotten later included). */
  submitted: number;
  timing: SimulatorTiming;
  url: string;
  urlOrigin: string;
  closed: boolean;
  /** A job was created: watch it for its webhook, persist. */
  onSubmitted(job: Job): void;
  /** A job changed (cancelled, webhook delivered): persist. */
  onChanged(job: Job): void;
  /** When set, status and result answers copy the request's Authorization value into their texts (echo.ts). */
  echoAuthorization: boolean;
  /** The Authorization header of the request being answered (for the echo switch). */
  authorization: string | null;
}

/** `{owner}/{app}` of an endpoint id; `workflows/` and `comfy/` take three segments. */
export function appPrefixOf(modelId: string): string {
  const parts = modelId.split('/').filter((p) => p.length > 0);
  const count = parts[0] === 'workflows' || parts[0] === 'comfy' ? 3 : 2;
  return parts.slice(0, count).join('/');
}

/** Resolves after `ms`, or never if the simulator closes first (its timer is cleared). */
export function sleep(state: State, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const cancel = () => {
      clearTimeout(timer);
      state.cleanups.delete(cancel);
    };
    const timer = setTimeout(() => {
      cancel();
      resolve();
    }, ms);
    state.cleanups.add(cancel);
  });
}
