/** The push settings: defaults as the contract says, and every mistake reported at once. */
import { describe, expect, it } from 'vitest';
import { ConfigError, FAL_WEBHOOK_JWKS_DEFAULT, loadConfig } from '../src/config.ts';

describe('FAL_UPDATES, FAL_WEBHOOK and their tuning', () => {
  it('defaults: streams on, webhooks off, fal\'s JWKS (or the built-in simulator\'s), PUBLIC_URL from PORT', () => {
    const config = loadConfig({ PORT: '4321' });
    expect(config.publicUrl).toBe('http://localhost:4321');
    expect(config.updates).toEqual({
      mode: 'stream',
      maxStreams: 256,
      streamStallMs: 20_000,
      safetyNetPollMs: 30_000,
      streamReconnectMs: 500,
      webhook: false,
      webhookJwksUrl: null,
    });
    expect(FAL_WEBHOOK_JWKS_DEFAULT).toBe('https://rest.alpha.fal.ai/.well-known/jwks.json');
  });

  it('set: poll mode, webhooks on, a public URL without its trailing slash', () => {
    const config = loadConfig({ FAL_UPDATES: 'poll', FAL_WEBHOOK: 'on', PUBLIC_URL: 'https://videos.example.com/', FAL_WEBHOOK_JWKS_URL: 'http://127.0.0.1:9/jwks.json', UPSTREAM_MAX_STREAMS: '0' });
    expect(config.publicUrl).toBe('https://videos.example.com');
    expect(config.updates).toMatchObject({ mode: 'poll', webhook: true, webhookJwksUrl: 'http://127.0.0.1:9/jwks.json', maxStreams: 0 });
  });

  it('mistakes: each on its own line, all at once', () => {
    let error: unknown;
    try {
      loadConfig({ FAL_UPDATES: 'push', FAL_WEBHOOK: 'yes', PUBLIC_URL: 'ftp://x', STREAM_STALL_MS: '5' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual(
      expect.arrayContaining(['FAL_UPDATES must be stream or poll', 'FAL_WEBHOOK must be on or off', 'PUBLIC_URL must be an http(s) URL', 'STREAM_STALL_MS must be at least 50']),
    );
  });
});
