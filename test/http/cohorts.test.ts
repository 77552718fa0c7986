/** Cohorts: one shared execution per (tenant, document, variables); members get current state first, latest wins, clean exits. */
import type { ExecutionResult } from 'graphql';
import { describe, expect, it } from 'vitest';
import { createCohorts, createFrameSplicer, FRAME, type Frame } from '../../src/http/cohorts.ts';
import { waitFor } from '../helpers/wait-for.ts';

/** A controllable source: push results, end it, see whether it was returned. */
function source() {
  const queue: ExecutionResult[] = [];
  let wake: (() => void) | null = null;
  let ended = false;
  let returned = 0;
  const iterable: AsyncIterable<ExecutionResult> = {
    [Symbol.asyncIterator]: () => ({
      async next() {
        while (queue.length === 0 && !ended) await new Promise<void>((resolve) => (wake = resolve));
        if (queue.length > 0) return { value: queue.shift()!, done: false };
        return { value: undefined, done: true };
      },
      async return() {
        returned++;
        ended = true;
        wake?.();
        return { value: undefined, done: true };
      },
    }),
  };
  return {
    iterable,
    push(n: number) {
      queue.push({ data: { n } });
      wake?.();
    },
    end() {
      ended = true;
      wake?.();
    },
    returned: () => returned,
    queued: () => queue.length,
  };
}

const json = (frame: Frame | undefined) => (frame ? JSON.parse(frame[FRAME]) : undefined);
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('cohorts', () => {
  it('one start per key; every member gets the same frames; late joiners start from the latest', async () => {
    const cohorts = createCohorts();
    const src = source();
    let starts = 0;
    const start = async () => {
      starts++;
      return src.iterable;
    };
    const a = (await cohorts.join('k', start)) as AsyncIterableIterator<Frame>;
    const b = (await cohorts.join('k', start)) as AsyncIterableIterator<Frame>;
    expect(starts).toBe(1);
    src.push(1);
    const [fa, fb] = [await a.next(), await b.next()];
    expect(fa.value).toBe(fb.value); // the very same serialized frame
    expect(json(fa.value)).toEqual({ data: { n: 1 } });
    const late = (await cohorts.join('k', start)) as AsyncIterableIterator<Frame>;
    expect(json((await late.next()).value)).toEqual({ data: { n: 1 } }); // current state first
    src.push(2);
    src.end();
    for (const member of [a, b, late]) {
      expect(json((await member.next()).value)).toEqual({ data: { n: 2 } });
      expect((await member.next()).done).toBe(true);
    }
    expect(cohorts.stats()).toEqual({ cohorts: 0, members: 0 });
  });

  it('a slow member holds only the latest frame', async () => {
    const cohorts = createCohorts();
    const src = source();
    const member = (await cohorts.join('k', async () => src.iterable)) as AsyncIterableIterator<Frame>;
    for (let n = 1; n <= 1000; n++) src.push(n);
    await waitFor(() => src.queued() === 0, { message: 'the cohort to take every result' });
    await tick();
    expect(json((await member.next()).value)).toEqual({ data: { n: 1000 } });
    await member.return!();
  });

  it('the last member leaving stops the shared execution', async () => {
    const cohorts = createCohorts();
    const src = source();
    const a = (await cohorts.join('k', async () => src.iterable)) as AsyncIterableIterator<Frame>;
    const b = (await cohorts.join('k', async () => src.iterable)) as AsyncIterableIterator<Frame>;
    await a.return!();
    expect(src.returned()).toBe(0);
    await b.return!();
    expect(src.returned()).toBe(1);
    expect(cohorts.stats().cohorts).toBe(0);
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
    const joins = [cohorts.join('k', start), cohorts.join('k', start)];
    release();
    expect(await Promise.all(joins)).toEqual([failure, failure]);
    expect(cohorts.stats().cohorts).toBe(0);
  });
});

describe('frame splicer', () => {
  it('puts the shared JSON in place of the marker, leaving other messages alone', () => {
    const splicer = createFrameSplicer();
    const frame: Frame = { [FRAME]: '{"data":{"jobUpdates":{"id":"1"}}}' };
    const send = (id: string) => splicer.splice(JSON.stringify({ id, type: 'next', payload: frame }, splicer.replacer));
    const first = send('op-7');
    expect('bytes' in first && JSON.parse(first.bytes.toString())).toEqual({ id: 'op-7', type: 'next', payload: { data: { jobUpdates: { id: '1' } } } });
    const same = send('op-7');
    expect('bytes' in same && 'bytes' in first && same.bytes).toBe('bytes' in first ? first.bytes : null); // shared bytes for the same id
    const other = send('op-8');
    expect('bytes' in other && JSON.parse(other.bytes.toString()).id).toBe('op-8');
    const plain = JSON.stringify({ id: 'x', type: 'complete' }, splicer.replacer);
    expect(splicer.splice(plain)).toEqual({ text: plain });
  });
});
