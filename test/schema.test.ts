/** schema.graphql is generated from the code; this fails when it is stale, and guards the contract's fixed part. */
import { readFileSync } from 'node:fs';
import { buildSchema, findBreakingChanges } from 'graphql';
import { expect, it } from 'vitest';
import { printSchemaFile } from '../src/schema/print.ts';

const checkedIn = readFileSync(new URL('../schema.graphql', import.meta.url), 'utf8');

it('schema.graphql is up to date (run `npm run schema`)', () => {
  expect(checkedIn, 'schema.graphql is stale: run `npm run schema`').toBe(printSchemaFile());
});

it('keeps every name the contract fixes', () => {
  const contract = buildSchema(`
    scalar DateTime
    type Query { job(id: ID!): Job  jobs(first: Int, after: String, status: JobStatus): JobConnection! }
    type Mutation { generateVideo(input: GenerateVideoInput!): Job!  cancelJob(id: ID!): Job! }
    type Subscription { jobUpdates(id: ID!): Job! }
    input GenerateVideoInput { prompt: String! imageUrl: String! duration: VideoDuration = SECONDS_5 negativePrompt: String cfgScale: Float idempotencyKey: String }
    enum VideoDuration { SECONDS_5 SECONDS_10 }
    enum JobStatus { IN_QUEUE IN_PROGRESS COMPLETED FAILED CANCELLED }
    type JobConnection { edges: [JobEdge!]! pageInfo: PageInfo! }
    type JobEdge { cursor: String! node: Job! }
    type PageInfo { hasNextPage: Boolean! endCursor: String }
    type Job { id: ID! requestId: String! model: String! status: JobStatus! queuePosition: Int logs: [JobLog!]! video: Video error: JobError input: JobInput! createdAt: DateTime! updatedAt: DateTime! completedAt: DateTime }
    type Video { url: String!, contentType: String, fileName: String, fileSize: Int }
    type JobLog { message: String!, level: String, timestamp: DateTime }
    type JobError { message: String!, code: String }
    type JobInput { prompt: String! imageUrl: String! duration: VideoDuration! negativePrompt: String cfgScale: Float }
  `);
  expect(findBreakingChanges(contract, buildSchema(checkedIn))).toEqual([]);
});
