/**
 * One keep-alive connection pool to the upstream's origin, shared by every upstream call. Bound to
 * one origin, so the credential it carries cannot be sent anywhere else.
 */
import { Pool } from 'undici';

export interface UpstreamPoolOptions {
  baseUrl: string;
  connections?: number;
  connectTimeoutMs?: number;
}

export function createUpstreamPool({ baseUrl, connections = 64, connectTimeoutMs = 10_000 }: UpstreamPoolOptions): Pool {
  return new Pool(new URL(baseUrl).origin, {
    connections,
    pipelining: 1,
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 600_000,
    connect: { timeout: connectTimeoutMs },
  });
}
