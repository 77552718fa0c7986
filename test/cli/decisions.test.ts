/** The CLI's pure decisions: flags to GraphQL input, gateway errors to exit codes, the estimated bar. */
import { describe, expect, it } from 'vitest';
import { inputOf } from '../../src/cli/commands/submit.ts';
import { statusOf } from '../../src/cli/commands/jobs.ts';
import { EXIT, fromGraphQLErrors } from '../../src/cli/errors.ts';
import { progressOf } from '../../src/cli/live.ts';
import { endpointOf } from '../../src/cli/program.ts';
import type { Job } from '../../src/cli/queries.ts';

describe('inputOf', () => {
  it('maps flags to GenerateVideoInput', () => {
    expect(inputOf({ prompt: 'p', imageUrl: 'https://x/a.png', duration: '10', cfgScale: '0.7', negativePrompt: 'n', idempotencyKey: 'k' })).toEqual({
      prompt: 'p', imageUrl: 'https://x/a.png', duration: 'SECONDS_10', cfgScale: 0.7, negativePrompt: 'n', idempotencyKey: 'k',
    });
  });
  it('wants exactly one of --image-url and --image, and numbers where numbers go', () => {
    expect(() => inputOf({ prompt: 'p' })).toThrow(/--image-url/);
    expect(() => inputOf({ prompt: 'p', imageUrl: 'u', image: 'f' })).toThrow(/exactly one/);
    expect(() => inputOf({ prompt: 'p', imageUrl: 'u', cfgScale: 'high' })).toThrow(/--cfg-scale/);
    expect(() => inputOf({ prompt: 'p', imageUrl: 'u', duration: '7' })).toThrow(/--duration/);
  });
});

describe('fromGraphQLErrors', () => {
  const exitOf = (code: string) => fromGraphQLErrors([{ message: 'm', extensions: { code } }]).exitCode;
  it('gives the contract exit codes', () => {
    expect(exitOf('BAD_USER_INPUT')).toBe(EXIT.usage);
    expect(exitOf('UNAUTHENTICATED')).toBe(EXIT.unauthenticated);
    expect(exitOf('UPSTREAM_UNAVAILABLE')).toBe(EXIT.unreachable);
    expect(exitOf('CONFLICT')).toBe(EXIT.failed);
    expect(exitOf('NOT_FOUND')).toBe(EXIT.usage);
  });
  it('names the field, its option and the wait', () => {
    const error = fromGraphQLErrors([{ message: 'too long', extensions: { code: 'BAD_USER_INPUT', field: 'negativePrompt' } }]);
    expect(error.message).toBe('too long (field: negativePrompt, option --negative-prompt) [BAD_USER_INPUT]');
    expect(fromGraphQLErrors([{ message: 'slow down', extensions: { code: 'RATE_LIMITED', retryAfterSeconds: 3 } }]).message).toMatch(/retry after 3 s/);
  });
});

describe('endpointOf and statusOf', () => {
  it('completes a bare origin with /graphql and refuses what is not http(s)', () => {
    expect(endpointOf('http://gw.internal:4000')).toBe('http://gw.internal:4000/graphql');
    expect(endpointOf('https://gw.example/api/graphql')).toBe('https://gw.example/api/graphql');
    expect(() => endpointOf('ftp://x')).toThrow(/http/);
  });
  it('reads a status in any case', () => {
    expect(statusOf('in-progress')).toBe('IN_PROGRESS');
    expect(() => statusOf('done')).toThrow(/--status/);
  });
});

describe('progressOf', () => {
  const job = (status: Job['status'], log = '') => ({ status, logs: log ? [{ message: log, level: null, timestamp: null }] : [], input: { duration: 'SECONDS_5' } }) as unknown as Job;
  it('takes a percentage from the latest log line', () => {
    expect(progressOf(job('IN_PROGRESS', 'Rendering 42%'), 0, 1_000, 12)).toBe(42);
  });
  it('else estimates from the time running, never 100 before the end', () => {
    expect(progressOf(job('IN_PROGRESS'), 0, 30_000, 12)).toBe(50);
    expect(progressOf(job('IN_PROGRESS'), 0, 600_000, 12)).toBe(95);
    expect(progressOf(job('IN_QUEUE'), undefined, 1_000, 12)).toBe(0);
    expect(progressOf(job('COMPLETED'), 0, 1_000, 12)).toBe(100);
  });
});
