// Every GraphQL document the dashboard sends, in one place: a field added to the schema later is one edit here.
// `features` says which optional parts the gateway's schema has (detected at start-up, see api.js).

export function jobFields(features = {}) {
  return `id requestId status queuePosition createdAt updatedAt completedAt cancelRequested
    input { prompt imageUrl duration negativePrompt cfgScale }
    logs { message level timestamp }
    video { url contentType fileName fileSize }
    error { code message }${features.cost ? '\n    cost { amount currency }' : ''}`;
}

export const FEATURES = `query Features {
  job: __type(name: "Job") { fields { name } }
  query: __type(name: "Query") { fields { name } }
  usage: __type(name: "Usage") { fields { name } }
}`;

export const jobsPage = (features) => `query Jobs($first: Int, $after: String, $status: JobStatus) {
  jobs(first: $first, after: $after, status: $status) {
    edges { cursor node { ${jobFields(features)} } }
    pageInfo { hasNextPage endCursor }
  }
}`;

export const jobEvents = (features) => `subscription Events($after: String) {
  jobEvents(after: $after) { cursor deleted job { ${jobFields(features)} } }
}`;

export const submit = (features) => `mutation Submit($input: GenerateVideoInput!) {
  generateVideo(input: $input) { ${jobFields(features)} }
}`;

export const cancel = (features) => `mutation Cancel($id: ID!) {
  cancelJob(id: $id) { ${jobFields(features)} }
}`;

export const usage = (features) => `query Usage($from: DateTime) {
  usage(from: $from) { spent { amount currency }${features.dailyBudget ? ' dailyBudget { amount currency }' : ''} }
}`;
