/** Media settings: refused combinations are reported at start-up; the safe S3 checksum default. */
import { expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';

const problems = (env: Record<string, string>) => {
  try {
    loadConfig(env);
    return [];
  } catch (error) {
    return (error as ConfigError).problems;
  }
};

it('with REDIS_URL, MEDIA_STORE=local is refused unless MEDIA_DIR is declared shared', () => {
  expect(problems({ REDIS_URL: 'redis://127.0.0.1:6379' }).join('\n')).toMatch(/MEDIA_STORE=local with REDIS_URL.*MEDIA_STORE=s3.*MEDIA_DIR_SHARED=true/);
  expect(problems({ REDIS_URL: 'redis://127.0.0.1:6379', MEDIA_DIR_SHARED: 'true' })).toEqual([]);
  expect(problems({ REDIS_URL: 'redis://127.0.0.1:6379', MEDIA_STORE: 's3', S3_BUCKET: 'b' })).toEqual([]);
  expect(problems({ MEDIA_STORE: 's3' })).toContain('MEDIA_STORE=s3 needs S3_BUCKET');
});

it('S3 checksums: only where required on a non-AWS endpoint, the SDK default on AWS; overridable', () => {
  expect(loadConfig({ MEDIA_STORE: 's3', S3_BUCKET: 'b', S3_ENDPOINT: 'http://127.0.0.1:9000' }).media.s3.checksums).toBe('when_required');
  expect(loadConfig({ MEDIA_STORE: 's3', S3_BUCKET: 'b' }).media.s3.checksums).toBe('when_supported');
  expect(loadConfig({ MEDIA_STORE: 's3', S3_BUCKET: 'b', S3_ENDPOINT: 'http://127.0.0.1:9000', S3_CHECKSUMS: 'when_supported' }).media.s3.checksums).toBe('when_supported');
});

it('the lifecycle preference is off when MEDIA_STORE=off', () => {
  expect(loadConfig({}).media.falExpirationSeconds).toBe(86_400);
  expect(loadConfig({ MEDIA_STORE: 'off' }).media.falExpirationSeconds).toBe(0);
  expect(loadConfig({ FAL_MEDIA_EXPIRATION_SECONDS: '0' }).media.falExpirationSeconds).toBe(0);
});
