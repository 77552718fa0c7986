/** Process entry: config from the environment, the app, and signals. The only file that reads process.*. */
import { createApp } from './app.ts';
import { ConfigError, loadConfig, StartupError } from './config.ts';

try {
  const app = await createApp(loadConfig(process.env));
  await app.start();
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.logger.info({ signal }, 'shutting down');
    app.stop().then(() => process.exit(0), (error: unknown) => {
      app.logger.error({ err: error }, 'shutdown failed');
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
} catch (error) {
  console.error(error instanceof ConfigError || error instanceof StartupError ? error.message : error);
  process.exit(1);
}
