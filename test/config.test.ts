import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_MODEL, loadConfig } from '../src/config.ts';

describe('loadConfig', () => {
  it('defaults match the contract', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 4000, host: '0.0.0.0', falKey: null, falAuthScheme: 'Key', falQueueUrl: 'https://queue.fal.run', falModel: DEFAULT_MODEL,
      pollIntervalMs: 1000, sqlitePath: './data/gateway.sqlite', redisUrl: null, apiKeys: null, logLevel: 'info',
    });
  });
  it('reports every mistake at once, one line each', () => {
    try {
      loadConfig({ PORT: 'abc', FAL_AUTH_SCHEME: 'Basic', POLL_INTERVAL_MS: '0', REDIS_URL: 'http://x', LOG_LEVEL: 'loud' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).problems).toHaveLength(5);
    }
  });
  it('the fal key never prints', () => {
    const config = loadConfig({ FAL_KEY: 'id:supersecret' });
    expect(JSON.stringify(config)).not.toContain('supersecret');
    expect(String(config.falKey)).not.toContain('supersecret');
    expect(config.falKey?.reveal()).toBe('id:supersecret');
  });
  it('parses tenants and refuses malformed entries without echoing keys', () => {
    expect([...loadConfig({ GATEWAY_API_KEYS: 'a:k1, b:k2' }).apiKeys!.values()]).toEqual(['a', 'b']);
    expect(() => loadConfig({ GATEWAY_API_KEYS: 'a:k1,broken' })).toThrow(/entry 2/);
    expect(() => loadConfig({ GATEWAY_API_KEYS: 'a:same,b:same' })).toThrow(ConfigError);
  });
  it('refuses a key with whitespace inside (it could never authenticate), in one line naming the entry, not the key', () => {
    for (const value of ['a:k1,dave:k d', 'a:k1,dave:k\td', 'a:k1,dave:k\u00a0d']) {
      try {
        loadConfig({ GATEWAY_API_KEYS: value });
        expect.unreachable();
      } catch (error) {
        expect((error as ConfigError).problems).toEqual(['GATEWAY_API_KEYS entry 2 has whitespace inside its key, which no Authorization header can match']);
        expect((error as ConfigError).message).not.toContain('k d');
      }
    }
  });
});
