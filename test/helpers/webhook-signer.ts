/**
 * Plays fal's webhook signer in tests: an Ed25519 key pair of its own, its JWKS served from a loopback
 * server (as fal serves https://rest.alpha.fal.ai/.well-known/jwks.json), and `sign` producing fal's
 * four headers over `request_id \n user_id \n timestamp \n hex(sha256(body))` (FAL_QUEUE.md section 3).
 */
import { createHash, generateKeyPairSync, sign as ed25519Sign, type KeyObject } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { atFileEnd } from './file-end.ts';

export interface SignOptions {
  requestId: string;
  userId?: string;
  /** Unix seconds; default now. */
  timestamp?: number;
  /** Sign with another key (a forgery). */
  key?: KeyObject;
}

export interface WebhookSigner {
  jwksUrl: string;
  /** How many times the JWKS was fetched. */
  jwksFetches(): number;
  sign(body: string, options: SignOptions): Record<string, string>;
  /** A key pair fal does not publish. */
  strangerKey(): KeyObject;
  /** fal rotates its key: a new pair is published (and used by `sign`) in place of the old one. */
  rotate(): void;
  close(): Promise<void>;
}

const open = new Set<() => Promise<void>>();
atFileEnd(async () => {
  await Promise.allSettled([...open].map((close) => close()));
});

export async function startWebhookSigner(): Promise<WebhookSigner> {
  let { publicKey, privateKey } = generateKeyPairSync('ed25519');
  let jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'test-key-1', use: 'sig' };
  // A second, unrelated key first: the verifier must try every key.
  const other = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' });
  let fetches = 0;
  const server = createServer((req, res) => {
    if (req.url !== '/.well-known/jwks.json') return void res.writeHead(404).end();
    fetches++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [{ ...other, kid: 'other' }, jwk] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const close = () => new Promise<void>((resolve) => (open.delete(close), server.close(() => resolve()), server.closeAllConnections()));
  open.add(close);
  return {
    jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    jwksFetches: () => fetches,
    sign(body, { requestId, userId = 'user-1', timestamp = Math.floor(Date.now() / 1000), key }) {
      const digest = createHash('sha256').update(body).digest('hex');
      const signature = ed25519Sign(null, Buffer.from(`${requestId}\n${userId}\n${timestamp}\n${digest}`), key ?? privateKey).toString('hex');
      return {
        'x-fal-webhook-request-id': requestId,
        'x-fal-webhook-user-id': userId,
        'x-fal-webhook-timestamp': String(timestamp),
        'x-fal-webhook-signature': signature,
      };
    },
    strangerKey: () => generateKeyPairSync('ed25519').privateKey,
    rotate() {
      ({ publicKey, privateKey } = generateKeyPairSync('ed25519'));
      jwk = { ...publicKey.export({ format: 'jwk' }), kid: `test-key-${Date.now()}`, use: 'sig' };
    },
    close,
  };
}
