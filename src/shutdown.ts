/**
 * One deadline for every step of a shutdown (SHUTDOWN_TIMEOUT_MS): a step still running when the time
 * is up is left behind with a warning, and the next one starts; a step that fails is logged and the
 * shutdown goes on. So a stop() never takes longer than its bound, whatever a client or a backend does.
 */
import type { Logger } from 'pino';

export interface ShutdownDeadline {
  /** Milliseconds left before the deadline (0 once it passed). */
  left(): number;
  /** Runs one step, waiting for it at most until the deadline. */
  step(name: string, run: () => unknown): Promise<void>;
}

export function createShutdownDeadline(deps: { timeoutMs: number; logger: Logger; now?: () => number }): ShutdownDeadline {
  const { timeoutMs, logger } = deps;
  const now = deps.now ?? Date.now;
  const deadline = now() + timeoutMs;
  const left = () => Math.max(0, deadline - now());
  return {
    left,
    async step(name, run) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), left())));
      try {
        const outcome = await Promise.race([Promise.resolve().then(run).then(() => 'done' as const), late]);
        if (outcome === 'late') logger.warn({ step: name, timeoutMs }, 'shutdown step still running at SHUTDOWN_TIMEOUT_MS: left behind');
      } catch (error) {
        logger.warn({ err: error, step: name }, 'shutdown step failed');
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
