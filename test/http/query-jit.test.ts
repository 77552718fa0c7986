/**
 * Compiled queries (src/http/query-jit.ts): a query document runs compiled from its second execution
 * on, never a mutation or a subscription, and its answers (data and errors) are the same as the
 * standard executor's, on the real gateway.
 */
import { compileQuery } from 'graphql-jit';
import { createSchema, createYoga } from 'graphql-yoga';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useQueryJit } from '../../src/http/query-jit.ts';
import { GET_JOB, startTestGateway, submitJob, type TestGateway } from '../helpers/start-gateway.ts';
import { waitFor } from '../helpers/wait-for.ts';

const compiles = { count: 0 };
const countingCompile: typeof compileQuery = (...args) => (compiles.count++, compileQuery(...args));

describe('useQueryJit', () => {
  const yoga = createYoga({
    schema: createSchema({
      typeDefs: 'type Query { hello(name: String): String! } type Mutation { bump: Int! }',
      resolvers: { Query: { hello: (_: unknown, args: { name?: string }) => `hello ${args.name ?? 'world'}` }, Mutation: { bump: () => 1 } },
    }),
    plugins: [useQueryJit({ compile: countingCompile })],
    logging: false,
  });
  const run = async (query: string, variables?: Record<string, unknown>) =>
    (await yoga.fetch('http://yoga/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) })).json();

  it('compiles a query on its second execution, once, and answers the same', async () => {
    const before = compiles.count;
    const query = 'query Hello($name: String) { hello(name: $name) }';
    expect(await run(query, { name: 'a' })).toEqual({ data: { hello: 'hello a' } });
    expect(compiles.count).toBe(before);
    expect(await run(query, { name: 'b' })).toEqual({ data: { hello: 'hello b' } });
    expect(compiles.count).toBe(before + 1);
    expect(await run(query)).toEqual({ data: { hello: 'hello world' } });
    expect(compiles.count).toBe(before + 1);
  });

  it('never compiles a mutation, nor a document seen once', async () => {
    const before = compiles.count;
    for (let i = 0; i < 3; i++) expect(await run('mutation { bump }')).toEqual({ data: { bump: 1 } });
    for (let i = 0; i < 3; i++) expect(await run(`{ hello(name: "once ${i}") }`)).toEqual({ data: { hello: `hello once ${i}` } });
    expect(compiles.count).toBe(before);
  });
});

describe('compiled queries on the gateway', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startTestGateway();
  });
  afterAll(() => gateway.dispose());

  it('answer job, jobs, node and usage exactly like the first, uncompiled execution, errors included', async () => {
    const job = await submitJob(gateway);
    // A finished job stays as it is while each query is read three times.
    await waitFor(async () => (await gateway.gql(GET_JOB, { id: job.id })).data?.job?.status === 'COMPLETED', { timeoutMs: 15_000, message: 'the job to complete' });
    const documents: Array<[string, Record<string, unknown>]> = [
      [GET_JOB, { id: job.id }],
      [GET_JOB, { id: 'no-such-job' }],
      ['query Jobs($first: Int, $after: String, $status: JobStatus) { jobs(first: $first, after: $after, status: $status) { edges { cursor node { id status input { duration } cost { amount currency } } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }', { first: 5, status: 'COMPLETED' }],
      ['query Jobs($first: Int, $after: String) { jobs(first: $first, after: $after) { nodes { id } } }', { first: 1000 }],
      ['query Jobs($first: Int, $after: String) { jobs(first: $first, after: $after) { nodes { id } } }', { after: 'not a cursor' }],
      ['query Node($id: ID!) { node(id: $id) { __typename id ... on Job { status createdAt } } }', { id: job.id }],
      ['query Usage($from: DateTime) { usage(from: $from) { spent { amount currency } jobs completed failed cancelled inProgress dailyBudget { amount } } }', { from: new Date(Date.now() - 3_600_000).toISOString() }],
      ['query Usage($from: DateTime) { usage(from: $from) { jobs } }', { from: 'not a date' }],
    ];
    for (const [query, variables] of documents) {
      const answers = [];
      for (let i = 0; i < 3; i++) {
        const { status, raw } = await gateway.gql(query, variables);
        answers.push({ status, body: JSON.parse(raw) });
      }
      expect(answers[1], query).toEqual(answers[0]);
      expect(answers[2], query).toEqual(answers[0]);
    }
  });
});
