/**
 * A private redis-server on a free loopback port, for tests that stop and restart Redis (which they
 * must not do to the shared one). With `persistent`, it keeps an append-only file, so a restart
 * keeps the data, as the README recommends for production.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './gateway-process.ts';
import { waitFor } from './wait-for.ts';
import { atFileEnd } from './file-end.ts';

const servers = new Set<{ stop(): Promise<void> }>();
atFileEnd(async () => {
  await Promise.allSettled([...servers].map((s) => s.stop()));
});

export interface RedisServer {
  url: string;
  port: number;
  stop(): Promise<void>;
  /** Stops (SIGTERM, as a deploy or crash-restart would) and starts again on the same port and files. */
  restart(): Promise<void>;
  /** Stops the server until `resume()` (an outage). */
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** Stops the server process (SIGSTOP) until `thaw()`: connections stay open, nothing is answered. */
  freeze(): void;
  thaw(): void;
}

export async function startRedisServer({ persistent = true } = {}): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'gateway-redis-'));
  let child: ChildProcess | null = null;

  async function launch() {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir, '--appendonly', persistent ? 'yes' : 'no', '--appendfsync', 'always'];
    child = spawn('redis-server', args, { stdio: 'ignore' });
    const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined); // refused until the server is up: expected
    try {
      await waitFor(async () => {
        await probe.connect().catch(() => undefined);
        return (await probe.ping()) === 'PONG';
      }, { timeoutMs: 10_000, intervalMs: 50, message: 'redis-server to answer' });
    } finally {
      probe.disconnect();
    }
  }

  async function halt() {
    const running = child;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGTERM');
    await exited;
  }

  await launch();
  const server: RedisServer = {
    url: `redis://127.0.0.1:${port}`,
    port,
    async stop() {
      servers.delete(server);
      await halt();
      rmSync(dir, { recursive: true, force: true });
    },
    async restart() {
      await halt();
      await launch();
    },
    pause: halt,
    resume: launch,
    freeze: () => void child?.kill('SIGSTOP'),
    thaw: () => void child?.kill('SIGCONT'),
  };
  servers.add(server);
  return server;
}

/** The pid of the gateway process holding a job's poll lease in this Redis (null when none). */
export async function leaseOwnerPid(redisUrl: string, prefix: string, jobId: string): Promise<number | null> {
  const client = new Redis(redisUrl);
  try {
    const owner = await client.get(`${prefix}lease:${jobId}`);
    return owner ? Number(owner.split(':')[1]) : null;
  } finally {
    client.disconnect();
  }
}
