/**
 * Fault injection for the fal queue simulator (index.ts): which calls to spoil and how.
 * Pure bookkeeping, no HTTP: the registry turns a matching fault into a `FaultAction` that the
 * server carries out.
 */
import { STATUS_CODES } from 'node:http';

/** The five queue operations the simulator serves (FAL_QUEUE.md section 1). */
export type SimulatorOperation = 'submit' | 'status' | 'result' | 'cancel' | 'stream';

/** What a fault can spoil: a queue operation, or a webhook delivery attempt (never matched by 'any'). */
export type FaultOperation = SimulatorOperation | 'webhook';

/** What a 'webhook' fault does to one delivery attempt. */
export type WebhookFaultKind = 'bad-signature' | 'unsigned' | 'replay' | 'late-timestamp' | 'fail-delivery' | 'payload-error';

/** One injected fault. See `FalSimulator.addFault`. */
export interface SimulatorFault {
  /** 'any' matches the five queue operations, not webhooks. */
  operation: FaultOperation | 'any';
  /**
   * Queue operations: 'http' (answer `status`; on 'stream': refuse it), 'drop' (destroy the socket; on
   * 'stream': after `afterEvents` events), 'delay', 'slow-body', 'malformed'; on 'stream' only: 'stall'
   * (after `afterEvents` events send nothing more, not even keep-alives, socket kept open), 'end-early'
   * (after `afterEvents` events end the response cleanly without COMPLETED).
   * 'webhook': 'bad-signature', 'unsigned' (no X-Fal-Webhook-Signature header), 'replay' (the same delivery sent twice), 'late-timestamp' (10 minutes old,
   * validly signed), 'fail-delivery' (that attempt is not sent and counts as failed), 'payload-error'
   * (`payload: null` with a `payload_error`, as fal does for a body it cannot serialise).
   */
  kind: 'http' | 'drop' | 'delay' | 'slow-body' | 'malformed' | 'stall' | 'end-early' | WebhookFaultKind;
  /** For kind 'http' (e.g. 500, 502, 503, 504, 429, 401, 403, 404); default 500. */
  status?: number;
  /** JSON body for 'http'; default a fal-like `{"detail": "..."}`. */
  body?: unknown;
  /** Extra response headers for 'http' and 'malformed', e.g. `{'retry-after': '1'}`. */
  headers?: Record<string, string>;
  /** For 'delay': wait this long before answering normally (slow headers). For 'slow-body': send the
   *  headers and the first byte of the normal answer, then stall this long before the rest. */
  delayMs?: number;
  /** How many matching calls it applies to; default 1; Infinity allowed. */
  times?: number;
  /** Apply only when the addressed job is COMPLETED (fal's transient 504 from the result). */
  afterCompleted?: boolean;
  /** For 'drop', 'stall' and 'end-early' on 'stream': how many `data:` events go out first; default 1. */
  afterEvents?: number;
}

/** What the server must do instead of (or before) serving a call normally. */
export type FaultAction =
  | { kind: 'respond'; status: number; headers: Record<string, string>; body: string }
  | { kind: 'drop'; afterEvents: number }
  | { kind: 'stall'; afterEvents: number }
  | { kind: 'end-early'; afterEvents: number }
  | { kind: 'delay'; delayMs: number }
  | { kind: 'slow-body'; delayMs: number }
  | { kind: 'webhook'; fault: WebhookFaultKind };

/** The facts about a call that faults can match on. */
export interface FaultCall {
  operation: FaultOperation;
  /** True when the call addresses a known job that is COMPLETED. */
  jobCompleted: boolean;
}

/** An ordered list of armed faults. */
export interface FaultRegistry {
  add(fault: SimulatorFault): void;
  clear(): void;
  /** Finds the first armed fault matching `call`, uses up one of its `times`, and says what to do. */
  take(call: FaultCall): FaultAction | null;
}

const FAL_DETAILS: Readonly<Record<number, string>> = {
  401: 'No user found for Key ID and Secret',
  403: 'User is locked. Reason: Exhausted balance. Top up your balance at fal.ai/dashboard/billing.',
};

/** The body fal would plausibly send for a bare HTTP error with this status. */
export function defaultFaultBody(status: number): { detail: string } {
  return { detail: FAL_DETAILS[status] ?? STATUS_CODES[status] ?? 'Error' };
}

/** Creates an empty fault registry. */
export function createFaultRegistry(): FaultRegistry {
  const armed: Array<{ fault: SimulatorFault; remaining: number }> = [];
  return {
    add(fault) {
      const remaining = fault.times ?? 1;
      if (remaining > 0) armed.push({ fault: { ...fault, headers: { ...fault.headers } }, remaining });
    },
    clear() {
      armed.length = 0;
    },
    take(call) {
      const index = armed.findIndex((entry) => matches(entry.fault, call));
      const entry = armed[index];
      if (!entry) return null;
      entry.remaining -= 1;
      if (entry.remaining <= 0) armed.splice(index, 1);
      return toAction(entry.fault);
    },
  };
}

function matches(fault: SimulatorFault, call: FaultCall): boolean {
  if (fault.operation === 'any' ? call.operation === 'webhook' : fault.operation !== call.operation) return false;
  return !fault.afterCompleted || call.jobCompleted;
}

function toAction(fault: SimulatorFault): FaultAction {
  const headers = fault.headers ?? {};
  switch (fault.kind) {
    case 'drop':
    case 'stall':
    case 'end-early':
      return { kind: fault.kind, afterEvents: Math.max(0, fault.afterEvents ?? 1) };
    case 'bad-signature':
    case 'unsigned':
    case 'replay':
    case 'late-timestamp':
    case 'fail-delivery':
    case 'payload-error':
      return { kind: 'webhook', fault: fault.kind };
    case 'delay':
      return { kind: 'delay', delayMs: Math.max(0, fault.delayMs ?? 0) };
    case 'slow-body':
      return { kind: 'slow-body', delayMs: Math.max(0, fault.delayMs ?? 0) };
    case 'malformed':
      return { kind: 'respond', status: 200, headers: { 'content-type': 'application/json', ...headers }, body: '{not json' };
    case 'http': {
      const status = fault.status ?? 500;
      const body = JSON.stringify(fault.body === undefined ? defaultFaultBody(status) : fault.body);
      return { kind: 'respond', status, headers: { 'content-type': 'application/json', ...headers }, body };
    }
  }
}
