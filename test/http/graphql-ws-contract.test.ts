/**
 * What src/http/graphql-ws.ts and ws-server.ts rely on in graphql-ws's protocol server (makeServer),
 * pinned so that an upgrade that changes it fails here, loudly, rather than in production:
 * - `subscribe` / `execute` get the very object `onSubscribe` returned (the integration keys its
 *   per-operation ticket on it in a WeakMap);
 * - `onOperation` sees the subscription's async iterable (the socket budget counts live subscriptions);
 * - `next` messages go out in the iterator's order, and `complete` after the iterator ends;
 * - a client `complete` and a closed socket both call the iterator's `return()` (a cohort member's
 *   leave, a subscription slot's release), and a client `complete` sends no `complete` back;
 * - a subscribe that answers a plain result (NOT_FOUND) sends one `next` then `complete`;
 * - errors from `onSubscribe` go out as one `error` message.
 */
import { GraphQLError, parse, type ExecutionArgs, type ExecutionResult } from 'graphql';
import { makeServer } from 'graphql-ws';
import { describe, expect, it } from 'vitest';
import { buildSchema } from 'graphql';
import { streamSource } from '../helpers/stream-source.ts';
import { waitFor } from '../helpers/wait-for.ts';

const schema = buildSchema('type Query { a: Int } type Subscription { n: Int }');
const SUBSCRIPTION = 'subscription { n }';

const stream = streamSource;

/** A protocol server on a fake socket; `sent` holds every message it wrote, parsed. */
function harness(overrides: { subscribe?: (args: ExecutionArgs) => unknown; onSubscribe?: () => unknown } = {}) {
  const returnedByOnSubscribe: ExecutionArgs[] = [];
  const seenBySubscribe: ExecutionArgs[] = [];
  const operations: unknown[] = [];
  const sent: Array<{ type: string; id?: string; payload?: unknown }> = [];
  let handle!: (data: string) => Promise<void>;
  const server = makeServer({
    onSubscribe: (_ctx, _id, payload) => {
      const custom = overrides.onSubscribe?.();
      if (custom) return custom as never;
      const args: ExecutionArgs = { schema, document: parse(payload.query), variableValues: payload.variables ?? null };
      returnedByOnSubscribe.push(args);
      return args;
    },
    subscribe: (args) => {
      seenBySubscribe.push(args);
      return overrides.subscribe?.(args) as never;
    },
    onOperation: (_ctx, _id, _payload, _args, result) => {
      operations.push(result);
    },
  });
  const closed = server.opened(
    {
      protocol: 'graphql-transport-ws',
      send: (data) => void sent.push(JSON.parse(data)),
      close: () => undefined,
      onMessage: (callback) => (handle = callback),
    },
    {},
  );
  const message = (value: unknown) => handle(JSON.stringify(value));
  return { returnedByOnSubscribe, seenBySubscribe, operations, sent, message, closed };
}

async function connected(h: ReturnType<typeof harness>) {
  await h.message({ type: 'connection_init' });
  expect(h.sent[0]).toEqual({ type: 'connection_ack' });
}

describe('graphql-ws protocol server: the behaviour our integration relies on', () => {
  it('subscribe gets the object onSubscribe returned; onOperation sees the stream; next in order, then complete after the end', async () => {
    const source = stream();
    const h = harness({ subscribe: () => source.iterator });
    await connected(h);
    const running = h.message({ id: '1', type: 'subscribe', payload: { query: SUBSCRIPTION } });
    await waitFor(() => h.operations.length === 1, { message: 'the subscription to start' });
    expect(h.seenBySubscribe[0]).toBe(h.returnedByOnSubscribe[0]);
    expect(h.operations[0]).toBe(source.iterator);
    source.push(1);
    source.push(2);
    source.push(3);
    source.end();
    await running;
    expect(h.sent.slice(1)).toEqual([
      { id: '1', type: 'next', payload: { data: { n: 1 } } },
      { id: '1', type: 'next', payload: { data: { n: 2 } } },
      { id: '1', type: 'next', payload: { data: { n: 3 } } },
      { id: '1', type: 'complete' },
    ]);
  });

  it("a client's complete returns the stream and gets no complete back", async () => {
    const source = stream();
    const h = harness({ subscribe: () => source.iterator });
    await connected(h);
    const running = h.message({ id: '1', type: 'subscribe', payload: { query: SUBSCRIPTION } });
    await waitFor(() => h.operations.length === 1, { message: 'the subscription to start' });
    await h.message({ id: '1', type: 'complete' });
    await running;
    expect(source.returned()).toBe(1);
    expect(h.sent.slice(1)).toEqual([]);
  });

  it('a closed socket returns every live stream', async () => {
    const first = stream();
    const second = stream();
    const sources = [first, second];
    const h = harness({ subscribe: () => sources.shift()!.iterator });
    await connected(h);
    void h.message({ id: '1', type: 'subscribe', payload: { query: SUBSCRIPTION } });
    void h.message({ id: '2', type: 'subscribe', payload: { query: SUBSCRIPTION } });
    await waitFor(() => h.operations.length === 2, { message: 'both subscriptions to start' });
    await h.closed(1000, 'bye');
    expect([first.returned(), second.returned()]).toEqual([1, 1]);
  });

  it('a plain result from subscribe (NOT_FOUND) is one next, then complete', async () => {
    const h = harness({ subscribe: () => ({ errors: [new GraphQLError('Job x not found', { extensions: { code: 'NOT_FOUND' } })] }) });
    await connected(h);
    await h.message({ id: '1', type: 'subscribe', payload: { query: SUBSCRIPTION } });
    expect(h.sent.slice(1)).toEqual([
      { id: '1', type: 'next', payload: { errors: [{ message: 'Job x not found', extensions: { code: 'NOT_FOUND' } }] } },
      { id: '1', type: 'complete' },
    ]);
  });

  it('errors returned by onSubscribe are one error message, and nothing runs', async () => {
    const h = harness({ onSubscribe: () => [new GraphQLError('Too many subscriptions', { extensions: { code: 'RATE_LIMITED' } })] });
    await connected(h);
    await h.message({ id: '1', type: 'subscribe', payload: { query: SUBSCRIPTION } });
    expect(h.seenBySubscribe).toEqual([]);
    expect(h.sent.slice(1)).toEqual([{ id: '1', type: 'error', payload: [{ message: 'Too many subscriptions', extensions: { code: 'RATE_LIMITED' } }] }]);
  });
});
