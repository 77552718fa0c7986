/**
 * Keys and tenants on every transport: no key or a wrong key is refused; tenant B can neither read,
 * list, follow nor cancel tenant A's job, and learns nothing about its existence.
 */
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subscribeSse, subscribeWs, wsClient, type Recording } from '../helpers/clients.ts';
import { CANCEL, FOLLOW, GET_JOB, startTestGateway, submitJob, SUBMIT, tempSqlitePath, validInput, type TestGateway } from '../helpers/start-gateway.ts';

const ALPHA = 'alpha-key-0123456789abcdef';
const BETA = 'beta-key-fedcba9876543210';
const asAlpha = { authorization: `Bearer ${ALPHA}` };
const asBeta = { authorization: `Bearer ${BETA}` };

let gateway: TestGateway;
beforeAll(async () => {
  gateway = await startTestGateway({ env: { GATEWAY_API_KEYS: `alpha:${ALPHA},beta:${BETA}` } });
});
afterAll(() => gateway.dispose());

function codesOf(recording: Recording, ended: Awaited<Recording['done']>): string[] {
  const errors = ended === 'complete' ? recording.events.flatMap((e) => e.errors ?? []) : (ended.error as Array<{ extensions?: { code?: string } }>);
  return errors.map((e) => e.extensions?.code ?? '');
}

describe('authentication', () => {
  it.each([
    ['no header', {}],
    ['wrong key', { authorization: 'Bearer nope' }],
    ['wrong scheme', { authorization: `Basic ${ALPHA}` }],
    ['empty bearer', { authorization: 'Bearer ' }],
  ])('HTTP with %s: 401 UNAUTHENTICATED, nothing submitted', async (_name, headers) => {
    const before = gateway.simulator.stats.submit;
    const response = await gateway.gql(SUBMIT, { input: validInput() }, headers);
    expect(response.status).toBe(401);
    expect(response.errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');
    expect(gateway.simulator.stats.submit).toBe(before);
  });

  it('SSE without a key: UNAUTHENTICATED, no events', async () => {
    const recording = subscribeSse(gateway.httpUrl, FOLLOW, { id: 'x' }, {});
    expect(await recording.status).toBe(401);
  });

  it.each([
    ['no params', {}],
    ['wrong key', { authorization: 'Bearer nope' }],
  ])('WebSocket with %s: closed with 4403 in onConnect', async (_name, params) => {
    const client = wsClient(gateway.wsUrl, params);
    const recording = subscribeWs(client, FOLLOW, { id: 'x' });
    const ended = await recording.done;
    expect(ended).not.toBe('complete');
    expect((await client.closed).code).toBe(4403);
  });

  it('a valid key works on all three transports', async () => {
    const job = await submitJob(gateway, {}, asAlpha);
    expect(job.status).toBe('IN_QUEUE');
    const ws = subscribeWs(wsClient(gateway.wsUrl, asAlpha), FOLLOW, { id: job.id });
    const sse = subscribeSse(gateway.httpUrl, FOLLOW, { id: job.id }, asAlpha);
    expect(await ws.done).toBe('complete');
    expect(await sse.done).toBe('complete');
    expect(sse.events.at(-1)!.data!.jobUpdates.status).toBe('COMPLETED');
  });
});

describe('tenant isolation', () => {
  it('B cannot read, list, follow or cancel A\'s job: it behaves exactly like an unknown id', async () => {
    gateway.simulator.pause();
    try {
      const job = await submitJob(gateway, {}, asAlpha);
      const unknown = '01900000-0000-7000-8000-000000000000';

      const read = await gateway.gql(GET_JOB, { id: job.id }, asBeta);
      const readUnknown = await gateway.gql(GET_JOB, { id: unknown }, asBeta);
      expect(read.data).toEqual({ job: null });
      expect(read.raw).toBe(readUnknown.raw);

      const list = await gateway.gql(`{ jobs(first: 100) { edges { node { id } } } }`, {}, asBeta);
      expect(list.raw).not.toContain(job.id);

      const cancel = await gateway.gql(CANCEL, { id: job.id }, asBeta);
      const cancelUnknown = await gateway.gql(CANCEL, { id: unknown }, asBeta);
      expect(cancel.errors![0]!.extensions!.code).toBe('NOT_FOUND');
      expect(cancel.errors![0]!.message.replace(job.id, '<id>')).toBe(cancelUnknown.errors![0]!.message.replace(unknown, '<id>'));

      for (const recording of [
        subscribeWs(wsClient(gateway.wsUrl, asBeta), FOLLOW, { id: job.id }),
        subscribeSse(gateway.httpUrl, FOLLOW, { id: job.id }, asBeta),
      ]) {
        const ended = await recording.done;
        expect(codesOf(recording, ended)).toEqual(['NOT_FOUND']);
        expect(recording.events.filter((e) => e.data)).toEqual([]);
      }

      // A still sees and controls its own job.
      expect((await gateway.gql(GET_JOB, { id: job.id }, asAlpha)).data!.job.id).toBe(job.id);
      expect((await gateway.gql(CANCEL, { id: job.id }, asAlpha)).data!.cancelJob.status).toBe('CANCELLED');
    } finally {
      gateway.simulator.resume();
    }
  });

  it('idempotency keys are per tenant', async () => {
    const a = await submitJob(gateway, { idempotencyKey: 'shared-key' }, asAlpha);
    const b = await submitJob(gateway, { idempotencyKey: 'shared-key' }, asBeta);
    expect(a.id).not.toBe(b.id);
  });
});

it('GATEWAY_API_KEYS may name a file of tenant:key lines', async () => {
  const file = `${tempSqlitePath()}.keys`;
  writeFileSync(file, `# tenants\ngamma:${ALPHA}-file\n`);
  const fromFile = await startTestGateway({ env: { GATEWAY_API_KEYS: `file:${file}` } });
  try {
    expect((await fromFile.gql(`{ jobs { edges { cursor } } }`, {}, { authorization: `Bearer ${ALPHA}-file` })).errors).toBeUndefined();
    expect((await fromFile.gql(`{ jobs { edges { cursor } } }`, {}, asAlpha)).status).toBe(401);
  } finally {
    await fromFile.dispose();
  }
});
