/** The transport's subscription slot: taken once, given back once, however the subscription ends. */
import { describe, expect, it } from 'vitest';
import { RateLimitedError } from '../../src/domain/errors.ts';
import { holdingSlot, takeSlot } from '../../src/http/subscription-slots.ts';

async function* numbers(n: number, failAt = -1) {
  for (let i = 0; i < n; i++) {
    if (i === failAt) throw new Error('source failed');
    yield i;
  }
}

function counter() {
  let released = 0;
  return { release: () => void released++, released: () => released };
}

describe('subscription slots', () => {
  it('a stream gives its slot back once when it ends, when it is returned, or when it throws', async () => {
    const ended = counter();
    const items: number[] = [];
    for await (const n of holdingSlot(numbers(3), ended.release) as AsyncIterable<number>) items.push(n);
    expect([items, ended.released()]).toEqual([[0, 1, 2], 1]);

    const left = counter();
    const early = holdingSlot(numbers(3), left.release) as AsyncIterableIterator<number>;
    await early.next();
    await early.return?.();
    expect(left.released()).toBe(1);

    const failed = counter();
    await expect((async () => {
      for await (const _ of holdingSlot(numbers(3, 1), failed.release) as AsyncIterable<number>) void _;
    })()).rejects.toThrow('source failed');
    expect(failed.released()).toBe(1);
  });

  it('an answer that is not a stream (NOT_FOUND) gives the slot back at once', () => {
    const slot = counter();
    const result = { errors: [] };
    expect(holdingSlot(result, slot.release)).toBe(result);
    expect(slot.released()).toBe(1);
  });

  it("a refusal is the quota's GraphQL error, and a slot's release runs its quota's release once", () => {
    const refused = takeSlot(() => {
      throw new RateLimitedError('Too many open subscriptions for this tenant.');
    }, 't');
    expect('refused' in refused && refused.refused.extensions.code).toBe('RATE_LIMITED');
    const quota = counter();
    const slot = takeSlot(() => quota.release, 't');
    if (!('release' in slot)) throw new Error('expected a slot');
    slot.release();
    slot.release();
    expect(quota.released()).toBe(1);
  });
});
