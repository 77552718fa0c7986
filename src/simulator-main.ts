/**
 * `npm run simulator`: serves the fal queue simulator on FAL_SIMULATOR_HOST:FAL_SIMULATOR_PORT
 * (default 127.0.0.1:4010) with the demo timing, until SIGINT or SIGTERM. It accepts one key,
 * FAL_SIMULATOR_KEY (default `simulator-key`), and prints how to point the gateway at it.
 */
import { DEFAULT_SIMULATOR_TIMING, startFalSimulator } from './fal-simulator/index.ts';

const port = Number(process.env.FAL_SIMULATOR_PORT ?? 4010);
const host = process.env.FAL_SIMULATOR_HOST ?? '127.0.0.1';
const apiKey = process.env.FAL_SIMULATOR_KEY || 'simulator-key';
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`FAL_SIMULATOR_PORT must be a port number, got ${JSON.stringify(process.env.FAL_SIMULATOR_PORT)}`);
  process.exit(1);
}

const simulator = await startFalSimulator({ port, host, timing: DEFAULT_SIMULATOR_TIMING, apiKey });
console.log(`fal queue simulator listening on ${simulator.url}; it accepts the key ${JSON.stringify(apiKey)}`);
console.log(`  use it: FAL_QUEUE_URL=${simulator.url} FAL_KEY=${apiKey} npm start`);
console.log(`  webhook keys (JWKS): ${simulator.jwksUrl}`);

const stop = (): void => {
  simulator.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
