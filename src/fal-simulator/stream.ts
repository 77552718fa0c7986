/**
 * The status stream (`GET .../requests/{id}/status/stream`, SSE): one event now, then one whenever
 * the state changes or new log lines appear (only the new lines), written at the instant of the
 * change (a timer for the job's next scheduled change; a cancel wakes it), as fal pushes at once;
 * a `: keep-alive` comment every
 * `streamKeepAliveMs` (fal: 15 s); closes after COMPLETED. A stream fault cuts it short after
 * `afterEvents` events: 'drop' destroys the socket, 'stall' goes silent with the socket open,
 * 'end-early' ends the response cleanly without COMPLETED.
 */
import type { ServerResponse } from 'node:http';
import { lastLogIndex, logEntries, nextChangeAt, phaseAt, windowFirstIndex } from './jobs.ts';
import type { Job, LogEntry } from './jobs.ts';
import type { State } from './state.ts';
import { statusBody } from './wire.ts';

export interface StreamFault {
  kind: 'drop' | 'stall' | 'end-early';
  afterEvents: number;
}

/** The next `data:` event for this stream at sim instant `now`, or null when nothing changed; `memory` is the stream's. */
function nextEvent(state: State, job: Job, withLogs: boolean, memory: { signature: string; lastLog: number | null }, now: number) {
  const phase = phaseAt(job, now);
  let logs: LogEntry[] | null = null;
  if (withLogs) {
    const to = lastLogIndex(job, now);
    logs = logEntries(job, state.clock, memory.lastLog === null ? windowFirstIndex(job, now) : memory.lastLog + 1, to);
    memory.lastLog = Math.max(memory.lastLog ?? -1, to);
  }
  const signature = phase.status === 'IN_QUEUE' ? `IN_QUEUE:${phase.position}` : phase.status;
  if (signature === memory.signature && (logs === null || logs.length === 0)) return null;
  memory.signature = signature;
  return { data: JSON.stringify(statusBody(state, job, phase, logs)), completed: phase.status === 'COMPLETED' };
}

export function handleStream(state: State, res: ServerResponse, job: Job, withLogs: boolean, fault: StreamFault | null): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-fal-request-id': job.id });
  const memory = { signature: '', lastLog: null as number | null };
  let sent = 0;
  let stopped = false;
  let tick: NodeJS.Timeout | null = null;
  let keepAlive: NodeJS.Timeout | null = null;
  const silence = () => {
    if (tick) clearTimeout(tick);
    if (keepAlive) clearInterval(keepAlive);
    tick = keepAlive = null;
    const wakers = state.streamWakers.get(job.id);
    if (wakers?.delete(wake) && wakers.size === 0) state.streamWakers.delete(job.id);
  };
  const stop = () => {
    stopped = true;
    silence();
    state.cleanups.delete(stop);
  };
  /**
   * Sleeps until the job's next scheduled change after `now`, the instant `push` just looked at (a
   * timer may fire a little early: then it sleeps again). One instant for both: read twice, a timer
   * firing just before the end would see the job running, then ended, and never wake again.
   */
  const arm = (now: number) => {
    if (tick) clearTimeout(tick);
    const at = nextChangeAt(job, now, withLogs);
    tick = at === null ? null : setTimeout(wake, Math.max(0, at - now));
  };
  const wake = () => {
    if (tick) clearTimeout(tick);
    tick = null;
    if (stopped) return;
    const now = state.clock.now();
    if (!push(now)) arm(now);
  };
  /** Applies the armed fault once its events are out; true when the stream is cut. */
  const cut = (): boolean => {
    if (!fault || sent < fault.afterEvents) return false;
    // A drop waits for what was written to reach the socket, then destroys it.
    if (fault.kind === 'drop') res.write('', () => res.socket?.destroy());
    else if (fault.kind === 'end-early') res.end();
    stop(); // 'stall': the socket stays open, silent, until the client or close() ends it
    return true;
  };
  const push = (now: number): boolean => {
    const event = nextEvent(state, job, withLogs, memory, now);
    if (!event) return false;
    res.write(`data: ${event.data}\n\n`);
    sent++;
    if (event.completed) {
      stop();
      res.end();
      return true;
    }
    return cut();
  };
  state.cleanups.add(stop);
  state.openStreams.set(job.id, (state.openStreams.get(job.id) ?? 0) + 1);
  res.on('close', () => {
    stop();
    const left = (state.openStreams.get(job.id) ?? 1) - 1;
    if (left > 0) state.openStreams.set(job.id, left);
    else state.openStreams.delete(job.id);
  });
  const now = state.clock.now();
  if (cut() || push(now)) return;
  state.streamWakers.set(job.id, (state.streamWakers.get(job.id) ?? new Set()).add(wake));
  arm(now);
  keepAlive = setInterval(() => res.write(': keep-alive\n\n'), state.streamKeepAliveMs);
}
