/** The GraphQL documents the CLI sends: the public schema only, nothing of the gateway's internals. */

export const JOB_FIELDS = `id requestId model status queuePosition
  logs { message level timestamp }
  video { url contentType fileName fileSize }
  error { message code }
  input { prompt imageUrl duration negativePrompt cfgScale }
  createdAt updatedAt completedAt`;

export const SUBMIT = `mutation Submit($input: GenerateVideoInput!) { generateVideo(input: $input) { ${JOB_FIELDS} } }`;
export const GET_JOB = `query Job($id: ID!) { job(id: $id) { ${JOB_FIELDS} } }`;
export const CANCEL = `mutation Cancel($id: ID!) { cancelJob(id: $id) { ${JOB_FIELDS} } }`;
export const LIST = `query Jobs($first: Int, $after: String, $status: JobStatus) {
  jobs(first: $first, after: $after, status: $status) { edges { cursor node { ${JOB_FIELDS} } } pageInfo { hasNextPage endCursor } }
}`;
export const JOB_UPDATES = `subscription Follow($id: ID!) { jobUpdates(id: $id) { ${JOB_FIELDS} } }`;
export const JOB_EVENTS = `subscription Events($after: String, $status: [JobStatus!]) { jobEvents(after: $after, status: $status) { cursor job { ${JOB_FIELDS} } } }`;

export const STATUSES = ['IN_QUEUE', 'IN_PROGRESS', 'COMPLETED', 'FAILED', 'CANCELLED'] as const;
export type JobStatus = (typeof STATUSES)[number];
export const TERMINAL: ReadonlySet<string> = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);

/** A job as the CLI reads it from the gateway. */
export interface Job {
  id: string;
  requestId: string;
  model: string;
  status: JobStatus;
  queuePosition: number | null;
  logs: Array<{ message: string; level: string | null; timestamp: string | null }>;
  video: { url: string; contentType: string | null; fileName: string | null; fileSize: number | null } | null;
  error: { message: string; code: string | null } | null;
  input: { prompt: string; imageUrl: string; duration: 'SECONDS_5' | 'SECONDS_10'; negativePrompt: string | null; cfgScale: number | null };
  createdAt: string;
  updatedAt: string;
  completedAt: string | null;
}

export interface JobEvent {
  cursor: string;
  job: Job;
}

export interface JobPage {
  edges: Array<{ cursor: string; node: Job }>;
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}
