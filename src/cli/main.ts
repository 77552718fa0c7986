/** `fal-video` / `npm run cli --`: the only CLI file that touches process.* (env, streams, signals, exit). */
import { runCli } from './program.ts';

// `fal-video list | head -1`: a reader that went away is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

const code = await runCli(process.argv.slice(2), {
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
  signals: process,
  exitNow: (exitCode) => process.exit(exitCode),
});
// Open sockets or timers left by a library must not keep a finished command alive.
process.stdout.write('', () => process.exit(code));
