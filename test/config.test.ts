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
  it('parses money as integer nano-dollars and the JWT settings, refusing both a secret and a JWKS URL', () => {
    const config = loadConfig({ PRICE_PER_SECOND_USD: '0.07', TENANT_DAILY_BUDGET_USD: '12.5', AUTH_JWT_SECRET: 'x'.repeat(40) });
    expect(config.money).toEqual({ pricePerSecondNanos: 70_000_000, tenantDailyBudgetNanos: 12_500_000_000, userDailyBudgetNanos: 0 });
    expect(config.auth).toMatchObject({ jwksUrl: null, tenantClaim: 'tenant', userClaim: 'sub', rolesClaim: 'roles' });
    expect(JSON.stringify(config)).not.toContain('x'.repeat(40));
    try {
      loadConfig({ PRICE_PER_SECOND_USD: '7 cents', AUTH_JWT_SECRET: 'short', AUTH_JWKS_URL: 'https://idp.example.com/jwks.json' });
      expect.unreachable();
    } catch (error) {
      expect((error as ConfigError).problems).toEqual([
        'AUTH_JWT_SECRET must be at least 32 characters',
        'PRICE_PER_SECOND_USD must be a decimal amount of dollars like 0.07 (at most 9 decimals)',
        'set one of AUTH_JWT_SECRET and AUTH_JWKS_URL, not both',
      ]);
    }
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
