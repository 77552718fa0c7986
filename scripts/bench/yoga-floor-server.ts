/**
 * The read-path floor: a plain Yoga server (createYoga with its defaults, no plugins) answering the
 * same query shapes as the gateway (`job`, `jobs` with status and cursor, `usage`) from in-memory
 * arrays, as a child process of `npm run bench` (see read-path.ts). No store, no authentication, no
 * limits, no logging: what GraphQL over HTTP costs in Yoga itself.
 *
 * Environment: BENCH_FLOOR_JOBS, the path of a JSON file with the jobs (the same ones the gateway's
 * store is seeded with, newest first). Prints `@@bench-ready {json}` when ready.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSchema, createYoga } from 'graphql-yoga';
import type { Job } from '../../src/domain/job.ts';
import { chargeOf, formatUsd } from '../../src/domain/money.ts';
import { READY_PREFIX } from './common.ts';
import { startControl } from './control.ts';

const typeDefs = /* GraphQL */ `
  scalar DateTime
  enum JobStatus { IN_QUEUE IN_PROGRESS COMPLETED FAILED CANCELLED }
  enum VideoDuration { SECONDS_5 SECONDS_10 }
  type Money { amount: String!, currency: String! }
  type Video { url: String!, upstreamUrl: String, durable: Boolean!, contentType: String, fileName: String, fileSize: Int }
  type JobLog { message: String!, level: String, timestamp: DateTime }
  type JobError { message: String!, code: String }
  type JobInput { prompt: String!, imageUrl: String!, duration: VideoDuration!, negativePrompt: String, cfgScale: Float }
  type Job {
    id: ID!
    requestId: String!
    model: String!
    userId: String
    status: JobStatus!
    queuePosition: Int
    logs: [JobLog!]!
    video: Video
    error: JobError
    input: JobInput!
    cancelRequested: Boolean!
    createdAt: DateTime!
    updatedAt: DateTime!
    completedAt: DateTime
    cost: Money
  }
  type PageInfo { hasNextPage: Boolean!, hasPreviousPage: Boolean!, startCursor: String, endCursor: String }
  type JobEdge { cursor: String!, node: Job! }
  type JobConnection { edges: [JobEdge!]!, nodes: [Job!]!, pageInfo: PageInfo! }
  type Usage { spent: Money!, jobs: Int!, completed: Int!, failed: Int!, cancelled: Int!, inProgress: Int!, dailyBudget: Money }
  type Query {
    job(id: ID!): Job
    jobs(first: Int, after: String, status: JobStatus): JobConnection!
    usage(from: DateTime, to: DateTime): Usage!
  }
`;

const jobs = JSON.parse(readFileSync(process.env.BENCH_FLOOR_JOBS ?? '', 'utf8')) as Job[];
const byId = new Map(jobs.map((job) => [job.id, job]));
const cursorOf = (job: Job) => Buffer.from(JSON.stringify([job.createdAt, job.id])).toString('base64url');
const money = (nanos: number) => ({ amount: formatUsd(nanos), currency: 'USD' });

const resolvers = {
  VideoDuration: { SECONDS_5: '5', SECONDS_10: '10' },
  Job: {
    requestId: (job: Job) => job.requestId ?? '',
    queuePosition: (job: Job) => (job.status === 'IN_QUEUE' ? job.queuePosition : null),
    video: (job: Job) => (job.status === 'COMPLETED' ? job.video : null),
    error: (job: Job) => (job.status === 'FAILED' ? job.error : null),
    cost: (job: Job) => (job.costNanoUsd == null ? null : money(chargeOf(job))),
  },
  Video: { durable: (video: { durable?: boolean }) => video.durable ?? false },
  JobConnection: { nodes: (c: { edges: Array<{ node: Job }> }) => c.edges.map((e) => e.node) },
  Query: {
    job: (_: unknown, args: { id: string }) => byId.get(args.id) ?? null,
    jobs: (_: unknown, args: { first?: number | null; after?: string | null; status?: string | null }) => {
      const first = args.first ?? 20;
      const list = args.status ? jobs.filter((job) => job.status === args.status) : jobs;
      let start = 0;
      if (args.after) {
        const [createdAt, id] = JSON.parse(Buffer.from(args.after, 'base64url').toString('utf8')) as [string, string];
        start = list.findIndex((job) => job.createdAt < createdAt || (job.createdAt === createdAt && job.id < id));
        if (start < 0) start = list.length;
      }
      const page = list.slice(start, start + first);
      const edges = page.map((node) => ({ node, cursor: cursorOf(node) }));
      return {
        edges,
        pageInfo: {
          hasNextPage: start + first < list.length,
          hasPreviousPage: Boolean(args.after),
          startCursor: edges[0]?.cursor ?? null,
          endCursor: edges.at(-1)?.cursor ?? null,
        },
      };
    },
    usage: (_: unknown, args: { from?: string | null; to?: string | null }) => {
      const from = args.from ? new Date(args.from).toISOString() : `${new Date().toISOString().slice(0, 10)}T00:00:00.000Z`;
      const to = args.to ? new Date(args.to).toISOString() : new Date(Date.parse(from) + 86_400_000).toISOString();
      const counts: Record<string, number> = {};
      let spent = 0;
      let total = 0;
      for (const job of jobs) {
        if (job.createdAt < from || job.createdAt >= to) continue;
        total++;
        counts[job.status] = (counts[job.status] ?? 0) + 1;
        spent += chargeOf(job);
      }
      return {
        spent: money(spent),
        jobs: total,
        completed: counts.COMPLETED ?? 0,
        failed: counts.FAILED ?? 0,
        cancelled: counts.CANCELLED ?? 0,
        inProgress: (counts.IN_QUEUE ?? 0) + (counts.IN_PROGRESS ?? 0),
        dailyBudget: null,
      };
    },
  },
};

const yoga = createYoga({ schema: createSchema({ typeDefs, resolvers }), graphqlEndpoint: '/graphql', landingPage: false, graphiql: false });
const server = createServer({ keepAliveTimeout: 65_000 }, yoga);
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
const port = (server.address() as AddressInfo).port;
const control = await startControl({});

const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

process.stdout.write(`${READY_PREFIX}${JSON.stringify({ control, httpUrl: `http://127.0.0.1:${port}/graphql`, port, pid: process.pid })}\n`);
