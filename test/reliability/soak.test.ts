/**
 * Soak: a steady stream of jobs and subscribers for SOAK_SECONDS (default 10 in CI; set more for a
 * longer run), with upstream faults switched on and off. At the end every job is finished and every
 * subscriber got its terminal event, nothing was submitted twice, and no listener, socket, poll loop
 * or timer is left, with memory back where it was.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { expect, it } from 'vitest';
import type { SimulatorFault } from '../../src/fal-simulator/index.ts';
import { subscribeSse, subscribeWs, wsClient, type Recording } from '../helpers/clients.ts';
import { FOLLOW, startTestGateway, SUBMIT, validInput } from '../helpers/start-gateway.ts';
import { waitFor } from '../helpers/wait-for.ts';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 10);

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

const FAULTS: SimulatorFault[] = [
  { operation: 'status', kind: 'http', status: 500, times: 5 },
  { operation: 'status', kind: 'http', status: 429, headers: { 'retry-after': '1' }, times: 2 },
  { operation: 'status', kind: 'drop', times: 3 },
  { operation: 'status', kind: 'malformed', times: 2 },
  { operation: 'result', kind: 'http', status: 504, afterCompleted: true, times: 2 },
  { operation: 'submit', kind: 'drop', times: 1 },
  { operation: 'submit', kind: 'http', status: 503, times: 1 },
];

it(`soak: ${SECONDS} s of jobs, subscribers and faults; nothing lost, doubled or leaked`, { timeout: (SECONDS + 60) * 1000 }, async () => {
  const gateway = await startTestGateway({
    env: { TENANT_SUBMITS_PER_MINUTE: '0', TENANT_MAX_ACTIVE_JOBS: '0', MAX_ACTIVE_JOBS: '0', LOG_LEVEL: 'warn', UPSTREAM_CIRCUIT_FAILURES: '50', ORPHAN_SEARCH_MS: '1000' },
    simulator: { timing: { initialQueuePosition: 2, queueStepMs: 80, runMs: 300, logEveryMs: 40, logWindowMs: 100 } },
  });
  const metric = async (name: string) => {
    const text = await (await fetch(`${gateway.baseUrl}/metrics`)).text();
    return Number(text.split('\n').find((l) => l.startsWith(`${name} `))?.split(' ')[1] ?? Number.NaN);
  };
  const resourcesBefore = process.getActiveResourcesInfo().length;

  const followers: Recording[] = [];
  const clients: Array<ReturnType<typeof wsClient>> = [];
  let requests = 0;
  let accepted = 0;
  let ambiguous = 0;
  let warmHeap = 0;
  const deadline = Date.now() + SECONDS * 1000;
  let tick = 0;
  while (Date.now() < deadline) {
    tick++;
    if (tick % 10 === 0) gateway.simulator.clearFaults();
    if (tick % 10 === 3) gateway.simulator.addFault({ ...FAULTS[(tick / 10) % FAULTS.length | 0]! });
    if (tick === 40) warmHeap = heapAfterGc();
    requests++;
    const response = await gateway.gql(SUBMIT, { input: validInput({ prompt: `soak ${tick}${tick % 7 === 0 ? ' [sim:fail]' : ''}` }) });
    if (response.data?.generateVideo) {
      accepted++;
      const id = response.data.generateVideo.id as string;
      const client = wsClient(gateway.wsUrl);
      clients.push(client);
      followers.push(subscribeWs(client, FOLLOW, { id }), subscribeSse(gateway.httpUrl, FOLLOW, { id }));
      if (tick % 3 === 0) {
        const quitter = subscribeSse(gateway.httpUrl, FOLLOW, { id });
        setTimeout(() => quitter.stop(), 50); // a client that goes away mid-job
      }
    } else {
      expect(response.errors?.[0]?.extensions?.code).toMatch(/UPSTREAM_UNAVAILABLE|RATE_LIMITED/);
      if (/may be running upstream/.test(response.errors![0]!.message)) ambiguous++;
    }
    await new Promise((resolve) => setTimeout(resolve, 100)); // the pace of the stream (5-10 jobs/s)
  }
  gateway.simulator.clearFaults();

  // Every follower ends with a terminal state.
  const ends = await Promise.all(followers.map((f) => f.done));
  expect(ends.every((e) => e === 'complete')).toBe(true);
  for (const follower of followers) expect(['COMPLETED', 'FAILED', 'CANCELLED']).toContain(follower.events.at(-1)?.data?.jobUpdates.status);
  await Promise.all(clients.map((c) => c.dispose()));

  // Nothing submitted twice: one upstream submission per client request at most.
  expect(gateway.simulator.stats.submit).toBeLessThanOrEqual(requests);
  // Each submission the upstream received was either accepted or reported to its client as possibly accepted.
  expect(gateway.simulator.stats.submit).toBe(accepted + ambiguous);
  expect(accepted).toBeGreaterThan(SECONDS * 3);

  // Nothing left behind.
  await waitFor(async () => (await metric('gateway_job_subscriptions')) === 0, { message: 'no job feeds' });
  await waitFor(async () => (await metric('gateway_websocket_connections')) === 0, { message: 'no websockets' });
  await waitFor(async () => (await metric('gateway_sse_streams')) === 0, { message: 'no SSE streams' });
  await waitFor(async () => (await metric('gateway_polled_jobs')) === 0, { message: 'no poll loops' });
  await waitFor(async () => (await metric('gateway_unfinished_jobs')) === 0, { message: 'every job finished' });
  await waitFor(() => process.getActiveResourcesInfo().length <= resourcesBefore + 10, { message: 'timers and sockets released' });

  // Memory is flat: the heap after the run is within a few MB of the heap once warm.
  const endHeap = heapAfterGc();
  expect(endHeap - warmHeap).toBeLessThan(24 * 1024 * 1024);
  await gateway.dispose();
});
