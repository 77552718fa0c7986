/**
 * The status stream (`GET .../requests/{id}/status/stream`, SSE): one event now, then one whenever
 * the state changes or new log lines appear; a keep-alive comment every 15 s; closes after COMPLETED.
 */
import type { ServerResponse } from 'node:http';
import { lastLogIndex, logEntries, phaseAt, windowFirstIndex } from './jobs.ts';
import type { Job, LogEntry } from './jobs.ts';
import type { State } from './state.ts';
import { statusBody } from './wire.ts';

const KEEP_ALIVE_MS = 15_000;

export function handleStream(state: State, res: ServerResponse, job: Job, withLogs: boolean): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-fal-request-id': job.id });
  let lastSignature = '';
  let lastLogSent: number | null = null;
  const push = (): boolean => {
    const now = state.clock.now();
    const phase = phaseAt(job, now);
    let logs: LogEntry[] | null = null;
    if (withLogs) {
      const to = lastLogIndex(job, now);
      logs = logEntries(job, state.clock, lastLogSent === null ? windowFirstIndex(job, now) : lastLogSent + 1, to);
      lastLogSent = Math.max(lastLogSent ?? -1, to);
    }
    const signature = phase.status === 'IN_QUEUE' ? `IN_QUEUE:${phase.position}` : phase.status;
    if (signature === lastSignature && (logs === null || logs.length === 0)) return false;
    lastSignature = signature;
    res.write(`data: ${JSON.stringify(statusBody(state, job, phase, logs))}\n\n`);
    return phase.status === 'COMPLETED';
  };
  const { queueStepMs, logEveryMs } = job.timing;
  const checkMs = Math.min(50, Math.max(5, Math.min(queueStepMs, logEveryMs > 0 ? logEveryMs : Infinity) / 2));
  const tick = setInterval(() => {
    if (push()) finish();
  }, checkMs);
  const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), KEEP_ALIVE_MS);
  const stop = () => {
    clearInterval(tick);
    clearInterval(keepAlive);
    state.cleanups.delete(stop);
  };
  const finish = () => {
    stop();
    res.end();
  };
  state.cleanups.add(stop);
  res.on('close', stop);
  if (push()) finish();
}
