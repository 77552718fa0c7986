/**
 * How a WebSocket subscription may share a cohort (cohorts.ts):
 * - 'snapshot' (jobUpdates): shared; a joiner's first frame is the cohort's latest (the job's current state).
 * - 'live' (jobEvents without `after`): shared, but a joiner starts with the next event ("from the
 *   moment of subscribing"), never one that happened before it joined.
 * - 'private' (jobEvents with `after`): never shared, since the replay from that cursor is its own.
 */
import { hash } from 'node:crypto';
import { getOperationAST, Kind, type DocumentNode } from 'graphql';
import { visibilityKey, type Caller } from '../domain/caller.ts';

/**
 * Subscribers who see the same jobs, with the same operation and variables, may share a cohort: this
 * is their key. A digest, so that each subscriber holds 44 bytes rather than its own copy of the document.
 */
export function cohortKey(caller: Caller, params: { query: string; operationName?: string | null; variables?: Record<string, unknown> | null }): string {
  // crypto.hash: one call, no Hash object (a third of the key's cost at one per SSE open).
  return hash('sha256', JSON.stringify([visibilityKey(caller), params.operationName ?? null, params.query, params.variables ?? null]), 'base64');
}

export type CohortPolicy = 'snapshot' | 'live' | 'private';

export function cohortPolicy(document: DocumentNode, operationName: string | null | undefined, variables: Record<string, unknown> | null | undefined): CohortPolicy {
  const operation = getOperationAST(document, operationName);
  let policy: CohortPolicy = 'snapshot';
  for (const selection of operation?.selectionSet.selections ?? []) {
    if (selection.kind !== Kind.FIELD || selection.name.value !== 'jobEvents') continue;
    const after = selection.arguments?.find((arg) => arg.name.value === 'after')?.value;
    if (!after || after.kind === Kind.NULL) {
      policy = 'live';
      continue;
    }
    if (after.kind === Kind.VARIABLE && (variables?.[after.name.value] ?? null) === null) {
      policy = 'live';
      continue;
    }
    return 'private';
  }
  return policy;
}
