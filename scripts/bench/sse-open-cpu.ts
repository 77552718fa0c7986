/**
 * CPU per subscription open (issue 15: "SSE subscriptions opened per second"), contention-independent:
 * the bench's gateway child (server.ts, the rss scenario's environment: one idle job deep in a queue),
 * N subscribers opened to that job with the bench's client fleet (clients.ts) at `--concurrency`
 * handshakes in flight, and per open: the child's process.cpuUsage() delta (server CPU) and this
 * process's (load CPU), each divided by N. Opens per second (wall) are printed too, indicative only
 * on a shared machine; the lower of 1e6/server-µs and 1e6/load-µs is what one core each could reach.
 *
 *   node scripts/bench/sse-open-cpu.ts [--kind sse|graphql-ws] [--n 3000] [--rounds 3] [--concurrency 200]
 *        [--profile FILE (the child, over the last round)] [--floor (raw-ws-server.ts's SSE floor instead of the gateway)]
 *   (the load side's profile: run this script itself with node --cpu-prof)
 */
import { parseArgs } from 'node:util';
import { createFleet, type FleetKind } from './clients.ts';
import { sleep, UPDATE_QUERY } from './common.ts';
import { LOAD_CORE, startGateway, startRaw, submitJob } from './gateway.ts';
import { detectMachine, pinSelf } from './proc.ts';

const { values } = parseArgs({
  options: {
    kind: { type: 'string', default: 'sse' },
    n: { type: 'string', default: '3000' },
    rounds: { type: 'string', default: '3' },
    /** Subscribers opened (10 in flight) and closed before the measured rounds: JIT and lazy paths warm. */
    warm: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '200' },
    profile: { type: 'string' },
    /** The floor instead of the gateway: raw-ws-server.ts answering each SSE POST with a stream of one frame. */
    floor: { type: 'boolean' },
    /** A V8/Node flag for the gateway child (repeatable), e.g. --node-flag=--single-threaded-gc. */
    'node-flag': { type: 'string', multiple: true },
    /** Pin as the bench does: the child on core 0, this process on core 1. */
    pin: { type: 'boolean' },
  },
});
const kind = values.kind as FleetKind;
const N = Number(values.n);
const ROUNDS = Number(values.rounds);
const CONCURRENCY = Number(values.concurrency);

const machine = detectMachine(values.pin === true);
if (machine.pin) pinSelf(LOAD_CORE);
const child = values.floor ? await startRaw(machine) : await startGateway(machine, { pollMs: 1000, timing: { initialQueuePosition: 500, queueStepMs: 3_600_000 }, nodeFlags: values['node-flag'] ?? [] });
const cpuOf = (s: { cpuUserUs: number; cpuSystemUs: number }) => s.cpuUserUs + s.cpuSystemUs;
const serverRounds: number[] = [];
const loadRounds: number[] = [];
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
try {
  const info = child.info as { httpUrl?: string; wsUrl: string };
  const job = info.httpUrl ? await submitJob(info.httpUrl, 'bench idle subscriptions') : { id: 'floor' };
  const url = kind === 'sse' ? (info.httpUrl ?? info.wsUrl.replace(/^ws:/, 'http:')) : info.wsUrl;
  const target = { url, query: UPDATE_QUERY, variables: { id: job.id } };
  const warm = createFleet(kind, target);
  await warm.grow(Number(values.warm), { concurrency: 10 });
  warm.close();
  await sleep(500);
  for (let round = 1; round <= ROUNDS; round++) {
    const last = round === ROUNDS;
    const fleet = createFleet(kind, target);
    if (last && values.profile) await child.post('/profile/start');
    const before = await child.stats();
    const load0 = process.cpuUsage();
    const t0 = performance.now();
    await fleet.grow(N, { concurrency: CONCURRENCY, deadlineMs: 120_000 });
    const wallMs = performance.now() - t0;
    const load = process.cpuUsage(load0);
    const after = await child.stats();
    if (last && values.profile) await child.post('/profile/stop', { path: values.profile });
    const opened = fleet.live();
    const serverUs = (cpuOf(after) - cpuOf(before)) / opened;
    const serverSys = (after.cpuSystemUs - before.cpuSystemUs) / opened;
    const loadUs = (load.user + load.system) / opened;
    const gcUs = ((after.gc.ms - before.gc.ms) * 1000) / opened;
    const gcs = `${after.gc.count - before.gc.count} GCs, ${after.gc.major - before.gc.major} major`;
    if (round > 1 || ROUNDS === 1) {
      serverRounds.push(serverUs);
      loadRounds.push(loadUs);
    }
    console.log(
      `round ${round}: ${opened}/${N} ${kind} open (errors ${JSON.stringify(Object.fromEntries(fleet.errors))}); ` +
        `server ${serverUs.toFixed(0)} µs/open (${serverSys.toFixed(0)} system, ${gcUs.toFixed(0)} in GC: ${gcs}), load ${loadUs.toFixed(0)} µs/open (${(load.system / opened).toFixed(0)} system); ` +
        `${((opened / wallMs) * 1000).toFixed(0)} opens/s wall (indicative), one-core ceilings: server ${(1e6 / serverUs).toFixed(0)}/s, load ${(1e6 / loadUs).toFixed(0)}/s` +
        `${last && values.profile ? ' [profiled]' : ''}`,
    );
    fleet.close();
    await sleep(1000);
  }
  console.log(`median${ROUNDS > 1 ? ' of rounds 2+' : ''}: server ${median(serverRounds).toFixed(0)} µs/open, load ${median(loadRounds).toFixed(0)} µs/open`);
} finally {
  await child.stop();
}
