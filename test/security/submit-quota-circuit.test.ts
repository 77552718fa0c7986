/**
 * Issue 9, item 13: TENANT_SUBMITS_PER_MINUTE counts only submissions that were sent upstream.
 * Those the open circuit refused (never sent) give their slot back.
 */
import { afterAll, expect, it } from 'vitest';
import { startTestGateway, SUBMIT, validInput, type TestGateway } from '../helpers/start-gateway.ts';
import { waitFor } from '../helpers/wait-for.ts';

let gateway: TestGateway | undefined;
afterAll(() => gateway?.dispose());

it('submissions refused by the open circuit do not use up the per-minute quota', async () => {
  gateway = await startTestGateway({
    env: { TENANT_SUBMITS_PER_MINUTE: '2', UPSTREAM_CIRCUIT_FAILURES: '1', UPSTREAM_CIRCUIT_OPEN_MS: '1500' },
  });
  const g = gateway;
  // One submit reaches fal and is refused (429): it was sent, so it counts, and it opens the circuit.
  g.simulator.addFault({ operation: 'submit', kind: 'http', status: 429 });
  const limited = await g.gql(SUBMIT, { input: validInput() });
  expect(limited.errors?.[0]?.extensions?.code, limited.raw).toBe('RATE_LIMITED');
  expect(g.simulator.stats.submit).toBe(1);

  // While the circuit is open, every submit fails fast without being sent; retried until it closes.
  let refusedByCircuit = 0;
  const accepted = await waitFor(
    async () => {
      const response = await g.gql(SUBMIT, { input: validInput() });
      if (response.errors?.[0]?.extensions?.code === 'UPSTREAM_UNAVAILABLE') {
        refusedByCircuit++;
        return null;
      }
      return response;
    },
    { timeoutMs: 15_000, intervalMs: 40, message: 'a submit accepted once the circuit lets one through' },
  );
  expect(refusedByCircuit, 'the circuit refused some submits first').toBeGreaterThanOrEqual(1);
  expect(accepted.errors, accepted.raw).toBeUndefined();
  expect(accepted.data?.generateVideo.status).toBe('IN_QUEUE');
  expect(g.simulator.stats.submit, 'only two submits were sent').toBe(2);

  // Two were sent: the quota is used up now, and says so.
  const third = await g.gql(SUBMIT, { input: validInput() });
  expect(third.errors?.[0]?.extensions?.code, third.raw).toBe('RATE_LIMITED');
});
