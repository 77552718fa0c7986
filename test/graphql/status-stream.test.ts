/**
 * FAL_UPDATES=stream against the simulator's real status stream: a followed job costs fal a few
 * status calls instead of dozens, and a stream that is refused, dropped, stalled or ended early still
 * ends the job COMPLETED for its subscriber, with every log line once.
 */
import { describe, expect, it } from 'vitest';
import { subscribeWs, wsClient } from '../helpers/clients.ts';
import { FOLLOW, startTestGateway, submitJob, type TestGateway } from '../helpers/start-gateway.ts';
import type { SimulatorFault } from '../../src/fal-simulator/index.ts';

/** ~1.2 s per job (the comparison: ~3 s, long enough for polling to cost dozens of calls at 25 ms). */
const TIMING = { initialQueuePosition: 2, queueStepMs: 100, runMs: 800, logEveryMs: 50, logWindowMs: 2000 };
const LONG_TIMING = { initialQueuePosition: 2, queueStepMs: 300, runMs: 2400, logEveryMs: 150, logWindowMs: 5000 };
const LOG_LINES = Math.ceil(TIMING.runMs / TIMING.logEveryMs);
const STREAM_ENV = { FAL_UPDATES: 'stream', STREAM_SAFETY_POLL_MS: '30000', STREAM_STALL_MS: '300', STREAM_RECONNECT_MS: '20' };

async function followToEnd(gateway: TestGateway) {
  const job = await submitJob(gateway);
  const recording = subscribeWs(wsClient(gateway.wsUrl), FOLLOW, { id: job.id });
  expect(await recording.done).toBe('complete');
  const states = recording.events.map((e) => e.data!.jobUpdates);
  return { job, states, last: states.at(-1)! };
}

function expectEveryLogOnce(last: { logs: Array<{ message: string }> }, lines = LOG_LINES) {
  const expected = ['Starting image-to-video generation', ...Array.from({ length: lines - 1 }, (_, k) => `Generating video: step ${k + 1}`)];
  expect(last.logs.map((l) => l.message)).toEqual(expected);
}

function statusGets(gateway: TestGateway, requestId: string): number {
  return gateway.simulator.statusCalls(requestId);
}

// Each test has its own gateway and simulator and mostly waits on a job: side by side.
describe.concurrent('status streams', () => {
  it('a job followed by stream completes with at most 3 status GETs, where polling made dozens', { timeout: 30_000 }, async () => {
    const streamed = await startTestGateway({ env: STREAM_ENV, simulator: { timing: LONG_TIMING } });
    const polled = await startTestGateway({ env: { FAL_UPDATES: 'poll' }, simulator: { timing: LONG_TIMING } });
    const [viaStream, viaPoll] = await Promise.all([followToEnd(streamed), followToEnd(polled)]);
    for (const { last } of [viaStream, viaPoll]) {
      expect(last).toMatchObject({ status: 'COMPLETED', error: null });
      expect(last.video.url).toBeTruthy();
      expectEveryLogOnce(last, LONG_TIMING.runMs / LONG_TIMING.logEveryMs);
    }
    const streamCalls = statusGets(streamed, viaStream.job.requestId);
    const pollCalls = statusGets(polled, viaPoll.job.requestId);
    expect(streamCalls).toBeLessThanOrEqual(3);
    expect(pollCalls).toBeGreaterThanOrEqual(12); // ~100 on an idle machine; fewer when it is loaded
    expect(streamed.simulator.stats.stream).toBeGreaterThanOrEqual(1);
    // Every visible change still reached the subscriber: queue positions, then IN_PROGRESS, then the end.
    expect(viaStream.states.map((s) => s.status)).toContain('IN_PROGRESS');
    const metrics = await (await fetch(`${streamed.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/gateway_upstream_stream_events_total\{event="completed"\} 1/);
    await Promise.all([streamed.dispose(), polled.dispose()]);
  });

  const faults: Array<[string, SimulatorFault]> = [
    ['refused (503, every time)', { operation: 'stream', kind: 'http', status: 503, times: Infinity }],
    ['refused for good (403)', { operation: 'stream', kind: 'http', status: 403, times: 1 }],
    ['dropped at open, twice', { operation: 'stream', kind: 'drop', times: 2 }],
  ];
  for (const [name, fault] of faults) {
    it(`a stream ${name}: the job still ends COMPLETED with every log line once`, { timeout: 30_000 }, async () => {
      const gateway = await startTestGateway({ env: STREAM_ENV, simulator: { timing: TIMING } });
      gateway.simulator.addFault(fault);
      const { last } = await followToEnd(gateway);
      expect(last).toMatchObject({ status: 'COMPLETED', error: null });
      expectEveryLogOnce(last);
      await gateway.dispose();
    });
  }

  const midStream: Array<[string, SimulatorFault]> = [
    ['dropped mid-job', { operation: 'stream', kind: 'drop', afterEvents: 6 }],
    ['stalled mid-job (no keep-alive either)', { operation: 'stream', kind: 'stall', afterEvents: 6 }],
    ['ended early (a clean end without COMPLETED)', { operation: 'stream', kind: 'end-early', afterEvents: 6 }],
  ];
  for (const [name, fault] of midStream) {
    it(`a stream ${name}: polled while down, reconnected, and the job ends COMPLETED with every log line once`, { timeout: 30_000 }, async () => {
      const gateway = await startTestGateway({ env: STREAM_ENV, simulator: { timing: TIMING } });
      gateway.simulator.addFault(fault);
      const { job, last } = await followToEnd(gateway);
      expect(last).toMatchObject({ status: 'COMPLETED', error: null });
      expectEveryLogOnce(last);
      // The gap was covered by polling (and, unless the job finished first, by a second stream).
      expect(statusGets(gateway, job.requestId)).toBeGreaterThanOrEqual(1);
      expect(gateway.simulator.stats.stream).toBeGreaterThanOrEqual(1);
      await gateway.dispose();
    });
  }
});
