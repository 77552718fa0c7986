/** Cohorts: one shared execution per (tenant, document, variables); members get current state first, latest wins, clean exits. */
import type { ExecutionResult } from 'graphql';
import { describe, expect, it } from 'vitest';
import { createCohorts, encodeNext, FRAME, type Frame, type FrameSink } from '../../src/http/cohorts.ts';
import { streamSource } from '../helpers/stream-source.ts';
import { waitFor } from '../helpers/wait-for.ts';

const source = streamSource;

const json = (frame: Frame | undefined) => (frame ? JSON.parse(frame[FRAME]) : undefined);
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('cohorts', () => {
  function sink() {
    const written: number[] = [];
    let congested = false;
    let drain: (() => void) | null = null;
    const value: FrameSink = {
      write(frame) {
        written.push(json(frame).data.n);
        return !congested;
      },
      onDrain(callback) {
        drain = callback;
      },
    };
    return { value, written, congest: (on: boolean) => (congested = on), drain: () => drain?.() };
  }

  it('one start per key, however many members', async () => {
    const cohorts = createCohorts();
    const src = source();
    let starts = 0;
    const start = async () => {
      starts++;
      return src.iterable;
    };
    const members = await Promise.all(Array.from({ length: 5 }, () => cohorts.joinWithSink('k', start, null, sink().value, () => undefined)));
    expect(starts).toBe(1);
    expect(cohorts.stats()).toEqual({ cohorts: 1, members: 5 });
    for (const m of members) await (m as AsyncIterableIterator<never>).return!();
    expect(cohorts.stats()).toEqual({ cohorts: 0, members: 0 });
  });

  it('an error result at start goes to every joiner, and no cohort is kept', async () => {
    const cohorts = createCohorts();
    const failure: ExecutionResult = { errors: [] };
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const start = async () => {
      await gate;
      return failure;
    };
    const joins = [cohorts.joinWithSink('k', start, null, sink().value, () => undefined), cohorts.joinWithSink('k', start, null, sink().value, () => undefined)];
    release();
    expect(await Promise.all(joins)).toEqual([failure, failure]);
    expect(cohorts.stats().cohorts).toBe(0);
  });

  it('writes the current state on the first read, then each frame directly; ends after the terminal one', async () => {
    const cohorts = createCohorts();
    const src = source();
    const starter = sink();
    const first = (await cohorts.joinWithSink('k', async () => src.iterable, null, starter.value, () => undefined)) as AsyncIterableIterator<never>;
    const firstDone = first.next();
    src.push(1);
    await waitFor(() => starter.written.length === 1, { message: 'frame 1' });
    const joiner = sink();
    let left = 0;
    const second = (await cohorts.joinWithSink('k', async () => src.iterable, null, joiner.value, () => void left++)) as AsyncIterableIterator<never>;
    expect(joiner.written).toEqual([]); // nothing before graphql-ws starts reading
    const secondDone = second.next();
    expect(joiner.written).toEqual([1]); // the current state, at once
    src.push(2);
    src.end();
    expect((await firstDone).done).toBe(true);
    expect((await secondDone).done).toBe(true);
    expect(starter.written).toEqual([1, 2]);
    expect(joiner.written).toEqual([1, 2]);
    expect(left).toBe(1);
  });

  it('joinLiveWithSink: null without a running cohort; a member at once, like a joinWithSink joiner, with one', async () => {
    const cohorts = createCohorts();
    const src = source();
    expect(cohorts.joinLiveWithSink('k', sink().value, () => undefined)).toBeNull();
    const starter = sink();
    const first = (await cohorts.joinWithSink('k', async () => src.iterable, null, starter.value, () => undefined)) as AsyncIterableIterator<never>;
    const firstDone = first.next();
    src.push(1);
    await waitFor(() => starter.written.length === 1, { message: 'frame 1' });
    const joiner = sink();
    let left = 0;
    const second = cohorts.joinLiveWithSink('k', joiner.value, () => void left++);
    expect(second).not.toBeNull();
    expect(cohorts.stats()).toEqual({ cohorts: 1, members: 2 });
    const secondDone = second!.next();
    expect(joiner.written).toEqual([1]); // the current state, at once
    src.push(2);
    src.end();
    expect((await firstDone).done).toBe(true);
    expect((await secondDone).done).toBe(true);
    expect(joiner.written).toEqual([1, 2]);
    expect(left).toBe(1);
    expect(cohorts.joinLiveWithSink('k', sink().value, () => undefined)).toBeNull(); // ended: none running
  });

  it('a congested subscriber gets the latest frame when it drains, and the terminal one always', async () => {
    const cohorts = createCohorts();
    const src = source();
    const slow = sink();
    const member = (await cohorts.joinWithSink('k', async () => src.iterable, null, slow.value, () => undefined)) as AsyncIterableIterator<never>;
    const done = member.next();
    slow.congest(true);
    src.push(1); // written, reports congestion
    for (let n = 2; n <= 50; n++) src.push(n); // held: latest wins
    await waitFor(() => src.queued() === 0, { message: 'all taken' });
    await tick();
    expect(slow.written).toEqual([1]);
    slow.congest(false);
    slow.drain();
    expect(slow.written).toEqual([1, 50]);
    slow.congest(true);
    src.push(51);
    src.push(52);
    src.end();
    expect((await done).done).toBe(true);
    expect(slow.written.at(-1)).toBe(52); // the terminal frame, despite congestion
  });

  it('a frame that comes during a fan-out does not wait for it: members not reached yet get both, in order', async () => {
    const cohorts = createCohorts({ batchSize: 2 });
    const src = source();
    const writes: string[] = [];
    const memberSink = (name: string): FrameSink => ({
      write: (frame) => {
        writes.push(`${name}:${json(frame).data.n}`);
        if (writes.length === 2) src.push(2); // while the fan-out of 1 is between its batches
        return true;
      },
      onDrain: () => undefined,
    });
    await fanOutTwo(cohorts, src, ['a', 'b', 'c', 'd', 'e', 'f'], memberSink, writes);
    expect(writes.slice(0, 2)).toEqual(['a:1', 'b:1']);
    // 2 is written to the members 1 had not reached yet before it goes to those it had; each gets 1 then 2.
    expect(writes.slice(2)).toEqual(['c:1', 'c:2', 'd:1', 'd:2', 'e:1', 'e:2', 'f:1', 'f:2', 'a:2', 'b:2']);
  });

  it('a fan-out yields once it has run YIELD_AFTER_MS, whatever its batch: a frame that comes meanwhile is taken at once', async () => {
    let clock = 0;
    const cohorts = createCohorts({ batchSize: 1_000, yieldAfterMs: 8, now: () => clock });
    const src = source();
    const writes: string[] = [];
    const memberSink = (name: string): FrameSink => ({
      write: (frame) => {
        clock += 5; // each write takes 5 ms: the fan-out yields after every second member
        writes.push(`${name}:${json(frame).data.n}`);
        if (writes.length === 2) src.push(2);
        return true;
      },
      onDrain: () => undefined,
    });
    await fanOutTwo(cohorts, src, ['a', 'b', 'c', 'd'], memberSink, writes);
    expect(writes).toEqual(['a:1', 'b:1', 'c:1', 'c:2', 'd:1', 'd:2', 'a:2', 'b:2']);
  });

  it('return() leaves once and stops the shared execution when last', async () => {
    const cohorts = createCohorts();
    const src = source();
    let left = 0;
    const member = (await cohorts.joinWithSink('k', async () => src.iterable, null, sink().value, () => void left++)) as AsyncIterableIterator<never>;
    const waiting = member.next();
    await member.return!();
    await member.return!();
    expect((await waiting).done).toBe(true);
    expect(left).toBe(1);
    expect(src.returned()).toBe(1);
  });
});

/** Members `names` join one cohort; frame 1 is pushed (each sink's write may push 2 mid-fan-out); waits until both reached every member, then ends. */
async function fanOutTwo(cohorts: ReturnType<typeof createCohorts>, src: ReturnType<typeof source>, names: string[], memberSink: (name: string) => FrameSink, writes: string[]) {
  const members = await Promise.all(names.map((name) => cohorts.joinWithSink('k', async () => src.iterable, null, memberSink(name), () => undefined)));
  const done = members.map((m) => (m as AsyncIterableIterator<never>).next());
  src.push(1);
  await waitFor(() => writes.length >= 2 * names.length, { message: 'both frames to reach every member' });
  src.end();
  await Promise.all(done);
}

describe('encodeNext', () => {
  it('builds the graphql-transport-ws next message once per id', () => {
    const frame: Frame = { [FRAME]: '{"data":{"jobUpdates":{"id":"1"}}}' };
    const a = encodeNext(frame, 'op-7');
    expect(JSON.parse(a.toString())).toEqual({ id: 'op-7', type: 'next', payload: { data: { jobUpdates: { id: '1' } } } });
    expect(encodeNext(frame, 'op-7')).toBe(a);
    expect(JSON.parse(encodeNext(frame, 'x"y').toString()).id).toBe('x"y');
  });
});

describe('fan-out batches', () => {
  it('a tenth of the cohort between yields, from 100 to 1,000 members (a fixed size when given)', async () => {
    const { batchFor } = await import('../../src/http/cohorts.ts');
    expect([batchFor(50), batchFor(1_000), batchFor(5_000), batchFor(10_000), batchFor(19_000), batchFor(10_000, 2)]).toEqual([100, 100, 500, 1000, 1000, 2]);
  });
});
