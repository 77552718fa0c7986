// Talking to the gateway: the credential (sessionStorage), GraphQL over HTTP, and schema feature detection.
import { FEATURES } from './queries.js';

const KEY = 'fal-gateway-dashboard:authorization';

export const credential = {
  get: () => sessionStorage.getItem(KEY) || '',
  set: (value) => (value ? sessionStorage.setItem(KEY, value) : sessionStorage.removeItem(KEY)),
  /** The Authorization value: "Bearer <key>" (a pasted "Bearer ..." is taken as is). */
  header() {
    const value = this.get().trim();
    if (!value) return null;
    return /^bearer\s/i.test(value) ? value : `Bearer ${value}`;
  },
};

export class GraphQLRequestError extends Error {
  constructor(errors) {
    super(errors.map((e) => e.message).join('; '));
    this.errors = errors;
    this.code = errors[0]?.extensions?.code ?? null;
  }
}

export const graphqlUrl = new URL('/graphql', location.href).toString();
export const wsUrl = graphqlUrl.replace(/^http/, 'ws');

/** One GraphQL request over HTTP; resolves with `data`, rejects with GraphQLRequestError (its `code`). */
export async function request(query, variables = {}) {
  const headers = { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' };
  const authorization = credential.header();
  if (authorization) headers.authorization = authorization;
  const response = await fetch(graphqlUrl, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  const body = await response.json().catch(() => ({ errors: [{ message: `HTTP ${response.status}` }] }));
  if (body.errors?.length) throw new GraphQLRequestError(body.errors);
  return body.data;
}

/**
 * A mutation with one file, by the GraphQL multipart request spec: `operations` (the file's place
 * null), `map`, then the file. Multipart is a CSRF-able form post, so the gateway wants its header.
 */
export async function requestWithFile(query, variables, path, file) {
  const body = new FormData();
  body.append('operations', JSON.stringify({ query, variables }));
  body.append('map', JSON.stringify({ 0: [`variables.${path}`] }));
  body.append('0', file, file.name);
  const headers = { accept: 'application/graphql-response+json, application/json', 'x-graphql-csrf': '1' };
  const authorization = credential.header();
  if (authorization) headers.authorization = authorization;
  const response = await fetch(graphqlUrl, { method: 'POST', headers, body });
  const answer = await response.json().catch(() => ({ errors: [{ message: `HTTP ${response.status}` }] }));
  if (answer.errors?.length) throw new GraphQLRequestError(answer.errors);
  return answer.data;
}

/** Which optional schema parts exist (cost, usage); none when introspection is off. */
export async function detectFeatures() {
  try {
    const data = await request(FEATURES);
    const jobFields = new Set((data.job?.fields ?? []).map((f) => f.name));
    const queryFields = new Set((data.query?.fields ?? []).map((f) => f.name));
    const usageFields = new Set((data.usage?.fields ?? []).map((f) => f.name));
    return { cost: jobFields.has('cost'), usage: queryFields.has('usage'), dailyBudget: usageFields.has('dailyBudget') };
  } catch (error) {
    if (error.code === 'UNAUTHENTICATED') throw error;
    return { cost: false, usage: false };
  }
}
