/**
 * The result video: a real H.264 clip under 1 MB, served with HEAD and Range, the right file_size in
 * results, and playable by Debian's Chromium (a <video> reaches readyState >= 2).
 */
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait-for.ts';
import { APP, onCleanup, start, submit } from './sim-helpers.ts';

async function videoUrl(): Promise<{ url: string; size: number }> {
  const sim = await start();
  const id = await submit(sim, { prompt: 'x [sim:fast]' });
  const result = await waitFor(async () => {
    const answer = await fetch(`${sim.url}/${APP}/requests/${id}`);
    return answer.status === 200 ? ((await answer.json()) as { video: { url: string; file_size: number } }) : null;
  }, { message: 'the result' });
  return { url: result.video.url, size: result.video.file_size };
}

describe('the result video', () => {
  it('GET: video/mp4, accept-ranges, file_size bytes, an MP4 under 1 MB', async () => {
    const { url, size } = await videoUrl();
    const answer = await fetch(url);
    const bytes = Buffer.from(await answer.arrayBuffer());
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toBe('video/mp4');
    expect(answer.headers.get('accept-ranges')).toBe('bytes');
    expect(bytes.length).toBe(size);
    expect(size).toBeGreaterThan(10_000);
    expect(size).toBeLessThan(1_000_000);
    expect(bytes.subarray(4, 8).toString()).toBe('ftyp');
    expect(bytes.includes(Buffer.from('avcC'))).toBe(true); // H.264
  });

  it('HEAD, Range (206 with content-range, suffix and open ranges) and 416', async () => {
    const { url, size } = await videoUrl();
    const head = await fetch(url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(size));
    const first = await fetch(url, { headers: { range: 'bytes=0-99' } });
    expect(first.status).toBe(206);
    expect(first.headers.get('content-range')).toBe(`bytes 0-99/${size}`);
    expect((await first.arrayBuffer()).byteLength).toBe(100);
    const tail = await fetch(url, { headers: { range: 'bytes=-10' } });
    expect(tail.headers.get('content-range')).toBe(`bytes ${size - 10}-${size - 1}/${size}`);
    const open = await fetch(url, { headers: { range: `bytes=${size - 5}-` } });
    expect((await open.arrayBuffer()).byteLength).toBe(5);
    const beyond = await fetch(url, { headers: { range: `bytes=${size}-` } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe(`bytes */${size}`);
  });

  it.skipIf(!existsSync('/usr/bin/chromium'))('plays in Debian Chromium: <video> reaches readyState >= 2', { timeout: 60_000 }, async () => {
    const { url } = await videoUrl();
    // The page comes from another loopback origin, as the dashboard or GraphiQL would embed the URL.
    const page = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(`<video id="v" muted preload="auto" src="${url}"></video>`));
    await new Promise<void>((resolve) => page.listen(0, '127.0.0.1', resolve));
    onCleanup(() => new Promise<void>((resolve) => page.close(() => resolve())));
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    try {
      const tab = await browser.newPage();
      await tab.goto(`http://127.0.0.1:${(page.address() as AddressInfo).port}/`);
      await tab.waitForFunction(() => (document.getElementById('v') as HTMLVideoElement).readyState >= 2, undefined, { timeout: 20_000 });
      const facts = await tab.evaluate(() => {
        const v = document.getElementById('v') as HTMLVideoElement;
        return { width: v.videoWidth, duration: v.duration, error: v.error?.code ?? null };
      });
      expect(facts).toMatchObject({ width: 640, error: null });
      expect(facts.duration).toBeGreaterThan(3);
    } finally {
      await browser.close();
    }
  });
});
