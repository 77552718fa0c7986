/** A port already taken: one line naming the port and PORT, exit 1, no stack. */
import { createServer } from 'node:net';
import { expect, it } from 'vitest';
import { startGatewayProcess } from '../helpers/gateway-process.ts';
import { tempSqlitePath } from '../helpers/start-gateway.ts';
import { within } from '../helpers/wait-for.ts';

it('a port in use: exit 1 with one line that names the port and PORT, no stack trace', async () => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const port = (taken.address() as { port: number }).port;
  try {
    const gateway = await startGatewayProcess({ PORT: String(port), SQLITE_PATH: tempSqlitePath(), LOG_LEVEL: 'warn' }, { waitForListening: false });
    expect(await within(gateway.exited, 15_000, 'the gateway exiting')).toBe(1);
    const lines = gateway.output.join('').split('\n').filter(Boolean);
    // The simulator warning (no FAL_KEY) is a JSON log line; what is not JSON is the one line about the port.
    const plain = lines.filter((line) => !line.startsWith('{'));
    expect(plain).toEqual([`Port ${port} on 127.0.0.1 is already in use (another gateway?): stop that process, or set PORT to a free port.`]);
    expect(gateway.output.join('')).not.toMatch(/EADDRINUSE|\n\s+at /);
  } finally {
    taken.close();
  }
});
