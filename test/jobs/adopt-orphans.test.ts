/** The pure decisions about orphaned submits (adopt-orphans.ts): which listed request is the job, and when to give up. */
import { describe, expect, it } from 'vitest';
import type { Job, VideoInput } from '../../src/domain/job.ts';
import { matchOrphan, orphanVerdict } from '../../src/jobs/adopt-orphans.ts';
import type { PlatformRequest } from '../../src/upstream/platform-api.ts';

const input: VideoInput = { prompt: 'a cat', imageUrl: 'https://example.com/a.png', duration: '5', negativePrompt: null, cfgScale: null };
const job = { id: 'j1', createdAt: '2026-12-01T10:00:00.000Z', input } as unknown as Job;
const request = (requestId: string, startedAt: string | null, overrides: Partial<VideoInput> = {}): PlatformRequest => ({
  requestId,
  startedAt,
  endedAt: null,
  statusCode: null,
  input: {},
  videoInput: { ...input, ...overrides },
});

describe('matchOrphan', () => {
  it('takes the request with the same input, started at the job or after, the closest in time', () => {
    const requests = [
      request('later', '2026-12-01T10:00:09.000Z'),
      request('ours', '2026-12-01T10:00:00.300Z'),
      request('other-input', '2026-12-01T10:00:00.100Z', { prompt: 'a dog' }),
      request('other-duration', '2026-12-01T10:00:00.100Z', { duration: '10' }),
      request('before', '2026-12-01T09:59:50.000Z'),
    ];
    expect(matchOrphan(job, requests, 2000)?.requestId).toBe('ours');
  });

  it("never takes another job's request, nor one without a start time or a readable input", () => {
    const requests = [request('taken', '2026-12-01T10:00:00.100Z'), request('no-time', null), { ...request('unreadable', '2026-12-01T10:00:00.200Z'), videoInput: null }];
    expect(matchOrphan(job, requests, 2000, new Set(['taken']))).toBeNull();
  });
});

describe('orphanVerdict', () => {
  const limits = { searchWindowMs: 60_000, maxTotalMs: 7_200_000, retryMs: 5_000 };
  it('searched and not found: retries within the window, then FAILED as never run', () => {
    expect(orphanVerdict(10_000, true, limits)).toEqual({ kind: 'retry', delayMs: 5_000 });
    expect(orphanVerdict(58_000, true, limits)).toEqual({ kind: 'retry', delayMs: 2_000 });
    const verdict = orphanVerdict(60_000, true, limits);
    expect(verdict).toMatchObject({ kind: 'fail', error: { code: 'SUBMIT_NOT_RECEIVED' } });
    expect(verdict.kind === 'fail' && verdict.error.message).toMatch(/did not run and is not billed/);
  });

  it('fal could not be asked: counted until JOB_MAX_TOTAL_MS, then FAILED as possibly billed', () => {
    expect(orphanVerdict(600_000, false, limits).kind).toBe('retry');
    const verdict = orphanVerdict(7_200_000, false, limits);
    expect(verdict.kind === 'fail' && verdict.error.message).toMatch(/may have run upstream and been billed/);
    expect(orphanVerdict(60_000, false, { ...limits, maxTotalMs: 0 }).kind).toBe('fail');
  });
});
