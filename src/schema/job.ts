/** The Job type and what hangs off it, with the `job` and `jobs` queries beside it. */
import { JOB_STATUSES, type Job, type JobError, type JobLog, type Video, type VideoInput } from '../domain/job.ts';
import { InvalidInputError } from '../domain/errors.ts';
import type { JobCursor } from '../store/job-store.ts';
import { builder } from './builder.ts';
import './scalars.ts';
import { NodeRef } from './node.ts';

export const JobStatusEnum = builder.enumType('JobStatus', {
  description: 'Where a job is. COMPLETED, FAILED and CANCELLED are final.',
  values: JOB_STATUSES,
});

export const VideoDurationEnum = builder.enumType('VideoDuration', {
  values: {
    SECONDS_5: { value: '5' as const, description: 'A 5 second video (about $0.35 upstream).' },
    SECONDS_10: { value: '10' as const, description: 'A 10 second video (about $0.70 upstream).' },
  },
});

const VideoRef = builder.objectRef<Video>('Video').implement({
  description: "The generated video: the gateway's durable copy once `durable`, otherwise fal's URL (which expires).",
  fields: (t) => ({
    url: t.exposeString('url'),
    upstreamUrl: t.string({ nullable: true, description: "fal's own URL of the video (it expires).", resolve: (v) => v.upstreamUrl ?? v.url }),
    durable: t.boolean({ description: "True once url points at the gateway's own copy (served at /media/...).", resolve: (v) => v.durable ?? false }),
    contentType: t.exposeString('contentType', { nullable: true }),
    fileName: t.exposeString('fileName', { nullable: true }),
    fileSize: t.exposeInt('fileSize', { nullable: true }),
  }),
});

const JobLogRef = builder.objectRef<JobLog>('JobLog').implement({
  fields: (t) => ({
    message: t.exposeString('message'),
    level: t.exposeString('level', { nullable: true }),
    timestamp: t.expose('timestamp', { type: 'DateTime', nullable: true }),
  }),
});

const JobErrorRef = builder.objectRef<JobError>('JobError').implement({
  fields: (t) => ({
    message: t.exposeString('message'),
    code: t.exposeString('code', { nullable: true }),
  }),
});

const JobInputRef = builder.objectRef<VideoInput>('JobInput').implement({
  description: 'What was submitted (the idempotency key is not echoed).',
  fields: (t) => ({
    prompt: t.exposeString('prompt'),
    imageUrl: t.exposeString('imageUrl'),
    duration: t.expose('duration', { type: VideoDurationEnum }),
    negativePrompt: t.exposeString('negativePrompt', { nullable: true }),
    cfgScale: t.exposeFloat('cfgScale', { nullable: true }),
  }),
});

export const JobRef = builder.objectRef<Job>('Job').implement({
  description: 'One image-to-video generation, from submission to its video (or error).',
  interfaces: [NodeRef],
  fields: (t) => ({
    id: t.exposeID('id'),
    requestId: t.string({
      description: "The upstream request id (empty only if the upstream never confirmed the submission).",
      resolve: (job) => job.requestId ?? '',
    }),
    model: t.exposeString('model'),
    userId: t.string({ nullable: true, description: 'Who submitted it: the signed-in user; null for API keys.', resolve: (job) => job.userId ?? null }),
    status: t.expose('status', { type: JobStatusEnum }),
    queuePosition: t.int({
      nullable: true,
      description: 'Requests ahead of this one upstream (0 = next); set only while IN_QUEUE.',
      resolve: (job) => (job.status === 'IN_QUEUE' ? job.queuePosition : null),
    }),
    logs: t.field({ type: [JobLogRef], description: 'De-duplicated, in order.', resolve: (job) => job.logs }),
    video: t.field({ type: VideoRef, nullable: true, resolve: (job) => (job.status === 'COMPLETED' ? job.video : null) }),
    error: t.field({ type: JobErrorRef, nullable: true, resolve: (job) => (job.status === 'FAILED' ? job.error : null) }),
    input: t.field({ type: JobInputRef, resolve: (job) => job.input }),
    cancelRequested: t.exposeBoolean('cancelRequested', { description: 'True once cancelJob was called for this job.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    completedAt: t.expose('completedAt', { type: 'DateTime', nullable: true }),
  }),
});

interface Edge {
  cursor: string;
  node: Job;
}
interface Connection {
  edges: Edge[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
}

const PageInfoRef = builder.objectRef<Connection['pageInfo']>('PageInfo').implement({
  fields: (t) => ({
    hasNextPage: t.exposeBoolean('hasNextPage'),
    hasPreviousPage: t.exposeBoolean('hasPreviousPage'),
    startCursor: t.exposeString('startCursor', { nullable: true }),
    endCursor: t.exposeString('endCursor', { nullable: true }),
  }),
});

const JobEdgeRef = builder.objectRef<Edge>('JobEdge').implement({
  fields: (t) => ({
    cursor: t.exposeString('cursor'),
    node: t.field({ type: JobRef, resolve: (edge) => edge.node }),
  }),
});

const JobConnectionRef = builder.objectRef<Connection>('JobConnection').implement({
  fields: (t) => ({
    edges: t.field({ type: [JobEdgeRef], resolve: (c) => c.edges }),
    nodes: t.field({ type: [JobRef], resolve: (c) => c.edges.map((e) => e.node) }),
    pageInfo: t.field({ type: PageInfoRef, resolve: (c) => c.pageInfo }),
  }),
});

export const MAX_PAGE_SIZE = 100;
const DEFAULT_PAGE_SIZE = 20;

export function encodeCursor(job: Job): string {
  return Buffer.from(JSON.stringify([job.createdAt, job.id])).toString('base64url');
}

export function decodeCursor(cursor: string): JobCursor {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    if (typeof createdAt === 'string' && typeof id === 'string') return { createdAt, id };
  } catch {
    // fall through
  }
  throw new InvalidInputError('after', 'after must be a cursor returned by a previous jobs query');
}

builder.queryType({});

builder.queryField('job', (t) =>
  t.field({
    type: JobRef,
    nullable: true,
    description: "A job by id; null when unknown (or another tenant's).",
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => ctx.jobs.get(ctx.caller, String(args.id)),
  }),
);

builder.queryField('jobs', (t) =>
  t.field({
    type: JobConnectionRef,
    description: `The caller's jobs, newest first (Relay connection; first defaults to ${DEFAULT_PAGE_SIZE}, at most ${MAX_PAGE_SIZE}).`,
    args: {
      first: t.arg.int(),
      after: t.arg.string(),
      status: t.arg({ type: JobStatusEnum }),
    },
    resolve: async (_root, args, ctx) => {
      const first = args.first ?? DEFAULT_PAGE_SIZE;
      if (first < 0 || first > MAX_PAGE_SIZE) throw new InvalidInputError('first', `first must be between 0 and ${MAX_PAGE_SIZE}`);
      const after = args.after ? decodeCursor(args.after) : null;
      const page = await ctx.jobs.list(ctx.caller, { first, after, status: args.status ?? null });
      const edges = page.jobs.map((node) => ({ node, cursor: encodeCursor(node) }));
      return {
        edges,
        pageInfo: {
          hasNextPage: page.hasNextPage,
          hasPreviousPage: after !== null,
          startCursor: edges[0]?.cursor ?? null,
          endCursor: edges.at(-1)?.cursor ?? null,
        },
      };
    },
  }),
);
