/**
 * The simulator's fault switches on the queue operations.
 */
import { describe, expect, it } from 'vitest';
import { start, submit, status, result, cancel, submitId, untilCompleted } from './wire-helpers.ts';

describe('fal simulator faults', () => {
  it('http 500 once, then normal; faulted calls still count', async () => {
    const sim = await start();
    const id = await submitId(sim);
    sim.addFault({ operation: 'status', kind: 'http', status: 500 });
    const faulted = await status(sim, id);
    expect(faulted.status).toBe(500);
    expect(faulted.json).toEqual({ detail: 'Internal Server Error' });
    expect((await status(sim, id)).status).toBe(202);
    expect(sim.statusCalls(id)).toBe(2);
    expect(sim.stats.status).toBe(2);
  });

  it('http 429 with a retry-after header and a custom body', async () => {
    const sim = await start();
    sim.addFault({ operation: 'submit', kind: 'http', status: 429, headers: { 'retry-after': '1' }, body: { detail: 'slow down' } });
    const answer = await submit(sim);
    expect(answer.status).toBe(429);
    expect(answer.headers['retry-after']).toBe('1');
    expect(answer.json).toEqual({ detail: 'slow down' });
    expect(sim.jobCount()).toBe(0);
    expect(sim.stats.submit).toBe(1);
  });

  it('drop destroys the socket without an answer', async () => {
    const sim = await start();
    sim.addFault({ operation: 'any', kind: 'drop' });
    const error = await submit(sim).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as { code?: string }).code).toMatch(/^UND_ERR_SOCKET|ECONNRESET$/);
    expect((await submit(sim)).status).toBe(200);
  });

  it('delay answers normally after the delay', async () => {
    const sim = await start();
    sim.pause(); // the job stays queued however slow the machine
    const id = await submitId(sim);
    sim.addFault({ operation: 'result', kind: 'delay', delayMs: 150 });
    const started = Date.now();
    const answer = await result(sim, id);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(answer.status).toBe(400); // still in progress, served normally
  });

  it('malformed answers 200 with a body that is not JSON', async () => {
    const sim = await start();
    const id = await submitId(sim);
    sim.addFault({ operation: 'status', kind: 'malformed' });
    const answer = await status(sim, id);
    expect(answer.status).toBe(200);
    expect(answer.text).toBe('{not json');
  });

  it('afterCompleted result faults wait for completion; times and clearFaults work', async () => {
    const sim = await start();
    const id = await submitId(sim);
    sim.addFault({ operation: 'result', kind: 'http', status: 504, afterCompleted: true, times: 2 });
    expect((await result(sim, id)).status).toBe(400); // not completed: fault not consumed
    await untilCompleted(sim, id);
    expect((await result(sim, id)).status).toBe(504);
    expect((await result(sim, id)).status).toBe(504);
    expect((await result(sim, id)).status).toBe(200);

    sim.addFault({ operation: 'any', kind: 'http', status: 503, times: Infinity });
    expect((await status(sim, id)).status).toBe(503);
    expect((await cancel(sim, id)).status).toBe(503);
    sim.clearFaults();
    expect((await status(sim, id)).status).toBe(200);
  });
});
