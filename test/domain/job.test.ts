import { describe, expect, it } from 'vitest';
import { canTransition, isTerminal, JOB_STATUSES, mergeLogs } from '../../src/domain/job.ts';

describe('state machine', () => {
  it('terminal states are final', () => {
    for (const from of ['COMPLETED', 'FAILED', 'CANCELLED'] as const) {
      expect(isTerminal(from)).toBe(true);
      for (const to of JOB_STATUSES) expect(canTransition(from, to)).toBe(false);
    }
  });
  it('a job never goes back to the queue once running', () => {
    expect(canTransition('IN_PROGRESS', 'IN_QUEUE')).toBe(false);
    expect(canTransition('IN_QUEUE', 'IN_PROGRESS')).toBe(true);
    expect(canTransition('IN_QUEUE', 'IN_QUEUE')).toBe(true);
    expect(isTerminal('IN_PROGRESS')).toBe(false);
  });
});

describe('mergeLogs (fal returns a sliding window)', () => {
  const line = (t: number, message: string) => ({ message, level: 'INFO', timestamp: new Date(t).toISOString() });
  it('keeps each line once, in order, across overlapping windows', () => {
    let logs = mergeLogs([], [line(1, 'a'), line(2, 'b')]);
    logs = mergeLogs(logs, [line(2, 'b'), line(3, 'c')]);
    logs = mergeLogs(logs, [line(3, 'c')]);
    expect(logs.map((l) => l.message)).toEqual(['a', 'b', 'c']);
  });
  it('the same message at another time is another line', () => {
    expect(mergeLogs([line(1, 'tick')], [line(2, 'tick')])).toHaveLength(2);
  });
  it('a long history: a few new lines (a stream event) and a wide window (a poll) merge alike, duplicates and untimed lines once', () => {
    const history = Array.from({ length: 3000 }, (_, i) => line(i, `step ${i}`));
    const untimed = { message: 'no time', level: 'INFO', timestamp: null };
    const fewer = mergeLogs(mergeLogs(history, [line(2999, 'step 2999'), line(3000, 'step 3000'), line(3000, 'step 3000')]), [untimed, untimed]);
    expect(fewer.map((l) => l.message).slice(-3)).toEqual(['step 2999', 'step 3000', 'no time']);
    expect(fewer).toHaveLength(3002);
    const window = Array.from({ length: 40 }, (_, i) => line(2980 + i, `step ${2980 + i}`));
    expect(mergeLogs(history, window)).toHaveLength(3020);
    expect(mergeLogs(fewer, [untimed])).toHaveLength(3002);
  });
});
