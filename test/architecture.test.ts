/**
 * Import direction (STYLE.md §6): schema -> jobs -> store / upstream / pubsub ports; only the
 * composition root (app.ts, backends.ts) knows concrete adapters; domain imports nothing.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** Every import of a file: `{ target, typeOnly }`, target relative to src/ for local files, else the package. */
function importsOf(file: string) {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^import\s+(type\s+)?[^'"]*?from\s+'([^']+)'/gm)].map((m) => {
    const spec = m[2]!;
    const target = spec.startsWith('.') ? relative(SRC, resolve(dirname(file), spec)) : spec;
    return { target, typeOnly: Boolean(m[1]) };
  });
}

const all = files(SRC).map((file) => ({ file: relative(SRC, file), imports: importsOf(file) }));
const inDir = (dir: string) => all.filter((f) => f.file.startsWith(`${dir}/`));
const local = (imports: ReturnType<typeof importsOf>) => imports.filter((i) => !i.target.startsWith('node:') && /\.ts$/.test(i.target));

describe('import direction', () => {
  it('domain/ imports nothing of ours', () => {
    for (const f of inDir('domain')) expect(local(f.imports).filter((i) => !i.target.startsWith('domain/')), f.file).toEqual([]);
  });

  it('jobs/ reaches only domain, its own modules and the ports of store, upstream and pubsub', () => {
    const allowed = /^(domain\/|jobs\/|store\/job-store\.ts|store\/job-event-log\.ts|store\/job-leases\.ts|store\/media-store\.ts|upstream\/upstream-queue\.ts|upstream\/file-storage\.ts|upstream\/media-source\.ts|upstream\/retry\.ts|pubsub\/job-event-target\.ts)/;
    for (const f of inDir('jobs')) expect(local(f.imports).filter((i) => !allowed.test(i.target)).map((i) => i.target), f.file).toEqual([]);
  });

  it('schema/ reaches jobs only by type, and never store, upstream, pubsub or http', () => {
    for (const f of inDir('schema')) {
      for (const i of local(f.imports)) {
        expect(/^(store\/(?!job-store)|upstream\/|pubsub\/|http\/|app|backends)/.test(i.target), `${f.file} -> ${i.target}`).toBe(false);
        if (i.target.startsWith('jobs/') || i.target.startsWith('store/')) expect(i.typeOnly, `${f.file} -> ${i.target}`).toBe(true);
      }
    }
  });

  it('store/, upstream/ and pubsub/ reach only domain/ and their own folder (ports aside)', () => {
    for (const dir of ['store', 'upstream', 'pubsub']) {
      for (const f of inDir(dir)) {
        const strays = local(f.imports).filter((i) => !i.target.startsWith('domain/') && !i.target.startsWith(`${dir}/`));
        expect(strays.map((i) => i.target), f.file).toEqual([]);
      }
    }
  });

  it('only the composition root imports concrete adapters', () => {
    const concrete = /^(store\/(sqlite|redis|local-media|s3-media)-|upstream\/(fal-queue-client|fal-storage-client|media-download|pool|circuit-breaker|instrumented)|pubsub\/event-target)/;
    const root = new Set(['app.ts', 'backends.ts', 'media-backend.ts', 'simulator-main.ts']);
    for (const f of all) {
      if (root.has(f.file) || f.file.startsWith('store/') || f.file.startsWith('upstream/') || f.file.startsWith('pubsub/')) continue;
      expect(local(f.imports).filter((i) => concrete.test(i.target)).map((i) => i.target), f.file).toEqual([]);
    }
  });

  it('cli/ is a client of the public interface only: it imports cli/ and packages, nothing else of ours', () => {
    const cli = inDir('cli');
    expect(cli.length).toBeGreaterThan(0);
    for (const f of cli) expect(local(f.imports).filter((i) => !i.target.startsWith('cli/')).map((i) => i.target), f.file).toEqual([]);
    for (const f of all.filter((g) => !g.file.startsWith('cli/'))) expect(local(f.imports).filter((i) => i.target.startsWith('cli/')).map((i) => i.target), f.file).toEqual([]);
  });

  it('fal-simulator/ imports nothing of the gateway, and only app.ts (by type, loading it with import()) and simulator-main.ts import it', () => {
    for (const f of inDir('fal-simulator')) expect(local(f.imports).filter((i) => !i.target.startsWith('fal-simulator/')).map((i) => i.target), f.file).toEqual([]);
    for (const f of all.filter((x) => !x.file.startsWith('fal-simulator/'))) {
      const uses = local(f.imports).filter((i) => i.target.startsWith('fal-simulator/'));
      if (f.file === 'app.ts') expect(uses.every((i) => i.typeOnly), 'app.ts loads the simulator only with import()').toBe(true);
      else if (f.file !== 'simulator-main.ts') expect(uses.map((i) => i.target), f.file).toEqual([]);
    }
  });

  it('libraries stay in their corner: undici in upstream/, ioredis in Redis adapters, process.env in main', () => {
    for (const f of all) {
      const packages = f.imports.map((i) => i.target);
      if (packages.includes('undici')) expect(/^(upstream|fal-simulator)\//.test(f.file), f.file).toBe(true);
      if (packages.includes('ioredis')) expect(/^(store\/redis-|pubsub\/|backends\.ts)/.test(f.file), f.file).toBe(true);
      const text = readFileSync(join(SRC, f.file), 'utf8');
      if (/process\.env/.test(text)) expect(['main.ts', 'simulator-main.ts', 'cli/main.ts']).toContain(f.file);
    }
  });
});
