/** An old Node.js fails early, in one line saying what is needed and how to get it. */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);

/** Runs scripts/check-node.mjs under `node`, optionally pretending to be another version. */
async function check(node: string, fakeVersion?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const stub = fakeVersion ? [`--import=data:text/javascript,Object.defineProperty(process.versions,"node",{value:"${fakeVersion}"})`] : [];
  try {
    const { stdout, stderr } = await run(node, [...stub, 'scripts/check-node.mjs'], { cwd: ROOT });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe('scripts/check-node.mjs', () => {
  it.each(['22.12.0', '20.11.1', '18.19.0'])('Node %s: exit 1, one line naming 22.13 and how to install it', async (version) => {
    const result = await check(process.execPath, version);
    expect(result.code).toBe(1);
    const lines = result.stderr.split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('needs Node.js 22.13 or newer');
    expect(lines[0]).toContain(`this is Node.js ${version}`);
    expect(lines[0]).toMatch(/nvm install 22|nodejs\.org/);
  });

  it.each(['22.13.0', '24.1.0', process.versions.node])('Node %s: passes silently', async (version) => {
    expect(await check(process.execPath, version)).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  const systemNode = '/usr/bin/node';
  it.runIf(existsSync(systemNode))('a real old Node (the machine’s /usr/bin/node) is refused the same way, or passes if it is new enough', async () => {
    const result = await check(systemNode);
    const { stdout: version } = await run(systemNode, ['-p', 'process.versions.node']);
    const [major = 0, minor = 0] = version.trim().split('.').map(Number);
    const old = major < 22 || (major === 22 && minor < 13);
    expect(result.code).toBe(old ? 1 : 0);
    if (old) expect(result.stderr.trim().split('\n')).toEqual([expect.stringContaining('needs Node.js 22.13 or newer')]);
  });
});

it('every npm script that runs TypeScript checks the version first, and npm refuses installs on an old Node (engine-strict)', () => {
  const { scripts, engines } = JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8')) as { scripts: Record<string, string>; engines: { node: string } };
  expect(engines.node).toBe('>=22.13');
  for (const name of ['start', 'simulator', 'schema', 'bench', 'test']) expect(scripts[name], name).toMatch(/^node scripts\/check-node\.mjs && /);
  expect(readFileSync(`${ROOT}/.npmrc`, 'utf8')).toMatch(/^engine-strict=true$/m);
});
