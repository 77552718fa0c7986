/**
 * POST /fal/webhook: fal's completion webhooks (FAL_WEBHOOK=on). A delivery is accepted only with a
 * valid fal signature over its raw body (401 otherwise, and nothing changes); an accepted one is
 * answered 200 at once and handed on in the background. The payload is only a hint: the receiver
 * fetches the result itself. The job is named by the `job` query parameter of the URL we gave fal,
 * and must carry the signed request id; any replica can take it (the state lives in the store).
 */
import type { Plugin } from 'graphql-yoga';
import type { Logger } from 'pino';

export const WEBHOOK_PATH = '/fal/webhook';
const MAX_WEBHOOK_BYTES = 1024 * 1024;

export type WebhookVerdict = { ok: true; requestId: string } | { ok: false; reason: string };

export interface WebhookDelivery {
  jobId: string | null;
  requestId: string;
  /** fal's `status`: "OK" or "ERROR". */
  ok: boolean;
}

export interface FalWebhookOptions {
  verify(header: (name: string) => string | null, rawBody: Uint8Array): Promise<WebhookVerdict>;
  /** Called after the 200 went out; must not throw. */
  accept(delivery: WebhookDelivery): Promise<void>;
  onRejected(reason: string): void;
  logger: Logger;
}

export function falWebhookPlugin(options: FalWebhookOptions): Plugin {
  const { logger } = options;
  const reply = (status: number, body: Record<string, unknown>) => Response.json(body, { status });
  type OnRequest = Parameters<NonNullable<Plugin['onRequest']>>[0];
  async function receive({ request, url, endResponse }: OnRequest): Promise<void> {
    if (request.method !== 'POST') return endResponse(reply(405, { error: 'method not allowed' }));
    if (Number(request.headers.get('content-length') ?? 0) > MAX_WEBHOOK_BYTES) return endResponse(reply(413, { error: 'too large' }));
    const raw = new Uint8Array(await request.arrayBuffer());
    if (raw.byteLength > MAX_WEBHOOK_BYTES) return endResponse(reply(413, { error: 'too large' }));
    const verdict = await options.verify((name) => request.headers.get(name), raw);
    if (!verdict.ok) {
      options.onRejected(verdict.reason);
      logger.warn({ reason: verdict.reason }, 'refused a fal webhook');
      return endResponse(reply(401, { error: 'invalid signature' }));
    }
    const body = parseBody(raw);
    if (!body || (body.request_id !== undefined && body.request_id !== verdict.requestId)) {
      logger.warn({ requestId: verdict.requestId }, 'a signed fal webhook with an unexpected body; ignored');
      return endResponse(reply(200, { received: true }));
    }
    const delivery = { jobId: url.searchParams.get('job'), requestId: verdict.requestId, ok: body.status !== 'ERROR' };
    setImmediate(() => void options.accept(delivery));
    endResponse(reply(200, { received: true }));
  }
  return {
    // Other requests pass without a promise (and its microtask hop).
    onRequest(payload) {
      if (payload.url.pathname !== WEBHOOK_PATH) return;
      return receive(payload);
    },
  };
}

function parseBody(raw: Uint8Array): { request_id?: unknown; status?: unknown } | null {
  try {
    const parsed: unknown = JSON.parse(new TextDecoder().decode(raw));
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as { request_id?: unknown; status?: unknown }) : null;
  } catch {
    return null;
  }
}
