/** The poller's pure decision: what an upstream answer does to a job. */
import { describe, expect, it } from 'vitest';
import type { Job } from '../../src/domain/job.ts';
import { advance } from '../../src/jobs/poller.ts';

const base: Job = {
  id: 'j', tenant: 't', userId: null, requestId: 'r', model: 'm', status: 'IN_QUEUE', queuePosition: 3, logs: [], video: null, error: null,
  input: { prompt: 'p', imageUrl: 'https://x/y.png', duration: '5', negativePrompt: null, cfgScale: null },
  idempotencyKey: null, cancelRequested: false, createdAt: '', updatedAt: '', completedAt: null, version: 1,
};
const at = new Date('2026-01-01T00:00:00Z');
const log = { message: 'hi', level: 'INFO', timestamp: '2026-01-01T00:00:00.000Z' };

describe('advance', () => {
  it('nothing visible changed: null (no write, no event)', () => {
    expect(advance(base, { status: 'IN_QUEUE', queuePosition: 3, logs: [], error: null }, null, at)).toBeNull();
  });
  it('queue position falls', () => {
    expect(advance(base, { status: 'IN_QUEUE', queuePosition: 1, logs: [], error: null }, null, at)?.queuePosition).toBe(1);
  });
  it('IN_PROGRESS clears the position and merges logs', () => {
    const next = advance(base, { status: 'IN_PROGRESS', queuePosition: null, logs: [log], error: null }, null, at);
    expect(next).toMatchObject({ status: 'IN_PROGRESS', queuePosition: null, logs: [log] });
    expect(advance(next!, { status: 'IN_PROGRESS', queuePosition: null, logs: [log], error: null }, null, at)).toBeNull();
  });
  it('an out-of-order IN_QUEUE after IN_PROGRESS is ignored', () => {
    expect(advance({ ...base, status: 'IN_PROGRESS', queuePosition: null }, { status: 'IN_QUEUE', queuePosition: 0, logs: [], error: null }, null, at)).toBeNull();
  });
  it('COMPLETED with a video', () => {
    const video = { url: 'u', contentType: 'video/mp4', fileName: null, fileSize: null };
    expect(advance(base, { status: 'COMPLETED', queuePosition: null, logs: [], error: null }, { ok: true, video }, at)).toMatchObject({ status: 'COMPLETED', video, completedAt: at.toISOString() });
  });
  it('COMPLETED with an error: FAILED, or CANCELLED when we asked to cancel', () => {
    const error = { message: 'boom', code: 'runner_error' };
    expect(advance(base, { status: 'COMPLETED', queuePosition: null, logs: [], error }, null, at)).toMatchObject({ status: 'FAILED', error });
    expect(advance({ ...base, cancelRequested: true }, { status: 'COMPLETED', queuePosition: null, logs: [], error }, null, at)?.status).toBe('CANCELLED');
  });
  it('COMPLETED but the result is the model refusing: FAILED with its message', () => {
    const error = { message: 'prompt: too long', code: 'string_too_long' };
    expect(advance(base, { status: 'COMPLETED', queuePosition: null, logs: [], error: null }, { ok: false, error }, at)).toMatchObject({ status: 'FAILED', error });
  });
  it('COMPLETED without a result yet: wait (null)', () => {
    expect(advance(base, { status: 'COMPLETED', queuePosition: null, logs: [], error: null }, null, at)).toBeNull();
  });
});
