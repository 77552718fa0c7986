/**
 * The simulator's own webhook key: an Ed25519 key pair (node:crypto), its JWKS, and fal's signature
 * over `request_id \n user_id \n timestamp \n hex(sha256(raw body))` (FAL_QUEUE.md section 3).
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';

export interface WebhookJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid: string;
  use: 'sig';
  alg: 'EdDSA';
}

export interface WebhookSigner {
  readonly jwks: { keys: WebhookJwk[] };
  /** The private key as PKCS#8 PEM (persisted by the built-in simulator so its key survives restarts). */
  readonly privateKeyPem: string;
  /** Hex Ed25519 signature of fal's webhook message. */
  sign(requestId: string, userId: string, timestamp: string, rawBody: string): string;
}

/** fal's signed message for one delivery. */
export function webhookMessage(requestId: string, userId: string, timestamp: string, rawBody: string): string {
  const digest = createHash('sha256').update(rawBody, 'utf8').digest('hex');
  return `${requestId}\n${userId}\n${timestamp}\n${digest}`;
}

/** A signer with a new key pair, or with the key of `privateKeyPem`. */
export function createWebhookSigner(privateKeyPem?: string): WebhookSigner {
  const privateKey = privateKeyPem ? createPrivateKey(privateKeyPem) : generateKeyPairSync('ed25519').privateKey;
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' });
  const x = String(jwk.x);
  const kid = createHash('sha256').update(x).digest('base64url').slice(0, 16);
  return {
    jwks: { keys: [{ kty: 'OKP', crv: 'Ed25519', x, kid, use: 'sig', alg: 'EdDSA' }] },
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    sign: (requestId, userId, timestamp, rawBody) =>
      sign(null, Buffer.from(webhookMessage(requestId, userId, timestamp, rawBody), 'utf8'), privateKey).toString('hex'),
  };
}
