/**
 * Structured JSON logs (pino), with every place a credential could sit redacted: request headers,
 * connection params, and anything named like a key.
 */
import { pino, type DestinationStream, type Logger } from 'pino';

export const REDACT_PATHS = [
  'authorization',
  '*.authorization',
  '*.*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'connectionParams',
  '*.connectionParams',
  'falKey',
  '*.falKey',
  'apiKey',
  '*.apiKey',
  'credential',
  '*.credential',
  'token',
  '*.token',
  'jwtSecret',
  '*.jwtSecret',
];

export function createLogger(options: { level: string; destination?: DestinationStream }): Logger {
  return pino(
    {
      level: options.level,
      base: { service: 'fal-video-gateway' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination,
  );
}
