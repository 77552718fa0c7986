/**
 * The dashboard and GraphiQL in a real browser: Debian's Chromium driven by playwright-core (never a
 * browser download), with every request to anything but the gateway blocked and recorded. A job
 * submitted through the form goes IN_QUEUE -> IN_PROGRESS -> COMPLETED live in its row; its detail has
 * the video; the same with keys on after typing the key; GraphiQL renders from the gateway alone.
 * `UPDATE_SCREENSHOT=1` writes docs/dashboard.png for the README.
 */
import { freePort } from '../helpers/gateway-process.ts';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, startTestGateway, submitJob, tempSqlitePath, type TestGateway } from '../helpers/start-gateway.ts';
import { hsToken, TEST_JWT_SECRET } from '../helpers/tokens.ts';
import { IMAGES } from '../helpers/media.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const present = existsSync(CHROMIUM);
if (!present && process.env.CI) throw new Error(`${CHROMIUM} is missing in CI: .ci/run installs Debian's chromium`);
if (!present) console.warn(`browser test skipped: ${CHROMIUM} is not installed (apt-get install -y chromium)`);

const SLOW = { initialQueuePosition: 2, queueStepMs: 300, runMs: 900, logEveryMs: 150, logWindowMs: 450 };
const IMAGE = 'https://images.example.com/cat.png';

let browser: Browser;
beforeAll(async () => {
  if (present) browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
});
afterAll(async () => {
  await browser?.close();
});

/** A page whose requests may only reach the gateway; everything else is aborted and listed in `outside`. */
async function gatewayOnlyPage(gateway: TestGateway): Promise<{ page: Page; outside: string[]; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1360, height: 820 } });
  const page = await context.newPage();
  const origin = new URL(gateway.baseUrl).origin;
  const media = new URL(gateway.simulator.url).origin;
  const outside: string[] = [];
  const errors: string[] = [];
  const standIn = Buffer.from(await (await fetch(`${gateway.baseUrl}/dashboard/sample.png`)).arrayBuffer());
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (new URL(url).origin === origin) return route.continue();
    outside.push(url);
    // The jobs' videos live on the upstream's CDN: here the simulator's (loopback) file server.
    if (new URL(url).origin === media && new URL(url).pathname.startsWith('/files/')) return route.continue();
    // The jobs' input image lives on a public host: a stand-in answers in its place (nothing leaves the machine).
    if (url === IMAGE) return route.fulfill({ status: 200, contentType: 'image/png', body: standIn });
    return route.abort('blockedbyclient');
  });
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error' && !/ERR_BLOCKED_BY_CLIENT|ERR_FAILED/.test(message.text())) errors.push(message.text());
  });
  return { page, outside, errors };
}

/** Records every status each row shows, as the DOM changes (nothing missed between two looks). */
async function recordStatuses(page: Page) {
  await page.evaluate(() => {
    const seen: Record<string, string[]> = {};
    (window as unknown as { seen: typeof seen }).seen = seen;
    const look = () => {
      for (const row of document.querySelectorAll<HTMLElement>('#jobs tbody tr[data-id]')) {
        const list = (seen[row.dataset.id as string] ??= []);
        if (list.at(-1) !== row.dataset.status) list.push(row.dataset.status as string);
      }
    };
    new MutationObserver(look).observe(document.querySelector('#jobs tbody') as Node, { childList: true, subtree: true, attributes: true });
  });
}

async function submitThroughForm(page: Page, prompt: string): Promise<string> {
  await page.click('#submit-panel summary');
  await page.fill('textarea[name=prompt]', prompt);
  await page.fill('input[name=imageUrl]', IMAGE);
  await page.selectOption('select[name=duration]', 'SECONDS_5');
  await page.fill('input[name=negativePrompt]', 'blur');
  await page.fill('input[name=cfgScale]', '0.6');
  await page.click('#submit-form button[type=submit]');
  const message = await page.waitForSelector('#message:has-text("Submitted job")', { timeout: 10_000 });
  return (/Submitted job ([\w-]+)/.exec((await message.textContent()) ?? '') as RegExpExecArray)[1] as string;
}

/** The row goes IN_QUEUE -> IN_PROGRESS -> COMPLETED live; its detail shows the video. */
async function followToVideo(page: Page, gateway: TestGateway, id: string, headers: Record<string, string> = {}) {
  const row = `#jobs tbody tr[data-id="${id}"]`;
  await page.waitForSelector(`${row}[data-status="COMPLETED"]`, { timeout: 20_000 });
  const seen = await page.evaluate((jobId) => (window as unknown as { seen: Record<string, string[]> }).seen[jobId], id);
  expect(seen).toEqual(['IN_QUEUE', 'IN_PROGRESS', 'COMPLETED']);
  await page.focus(row);
  await page.keyboard.press('Enter'); // keyboard usable: Enter opens the detail
  const video = await page.waitForSelector('#detail video', { timeout: 5_000 });
  const job = (await gateway.gql(`query($id: ID!) { job(id: $id) { video { url } input { prompt cfgScale negativePrompt } } }`, { id }, headers)).data!.job;
  expect(await video.getAttribute('src')).toBe(job.video.url);
  expect(job.input).toMatchObject({ cfgScale: 0.6, negativePrompt: 'blur' });
  // The video's media loads (a real MP4, with Range support), whether from the gateway's copy or the CDN.
  await page.waitForFunction(() => (document.querySelector('#detail video') as HTMLVideoElement).readyState >= 2, null, { timeout: 15_000 });
  return job.video.url as string;
}

describe.skipIf(!present)('dashboard in Chromium', () => {
  it('submits through the form and follows the job live to its video, with nothing loaded from elsewhere', { timeout: 60_000 }, async () => {
    const gateway = await startTestGateway({ simulator: { timing: SLOW } });
    const { page, outside, errors } = await gatewayOnlyPage(gateway);
    await page.goto(`${gateway.baseUrl}/dashboard`);
    await page.waitForSelector('#connection[data-state="live"]', { timeout: 10_000 });
    await recordStatuses(page);
    const id = await submitThroughForm(page, 'A red fox running through fresh snow, golden hour');
    const videoUrl = await followToVideo(page, gateway, id);
    // Only the job's own media (its input image, its video on the upstream's CDN) were ever asked for elsewhere.
    expect(outside.filter((url) => url !== IMAGE && url !== videoUrl)).toEqual([]);
    expect(errors).toEqual([]);
    // Filters and search narrow the table.
    await page.click('#status-filters button[data-status="FAILED"]');
    expect(await page.locator('#jobs tbody tr').count()).toBe(0);
    await page.click('#status-filters button[data-status="ALL"]');
    await page.fill('#search', 'fox');
    expect(await page.locator('#jobs tbody tr').count()).toBe(1);
    await page.fill('#search', 'no such prompt');
    expect(await page.locator('#jobs tbody tr').count()).toBe(0);
    await page.fill('#search', '');
    if (process.env.UPDATE_SCREENSHOT) {
      for (const prompt of ['A paper boat drifting down a rainy street, macro lens', 'Timelapse of a city skyline from dusk to night']) {
        await submitJob(gateway, { prompt, imageUrl: IMAGE });
      }
      await page.waitForSelector('#jobs tbody tr[data-status="IN_PROGRESS"]', { timeout: 10_000 });
      await page.evaluate(() => window.scrollTo(0, 0));
      await page.screenshot({ path: 'docs/dashboard.png' });
    }
    await page.context().close();
    await gateway.dispose();
  });

  it('with keys on: asks for the key, says clearly when it is refused, then works once typed', { timeout: 60_000 }, async () => {
    const gateway = await startTestGateway({ simulator: { timing: SLOW }, env: { GATEWAY_API_KEYS: 'acme:key-acme-123' } });
    const { page, outside } = await gatewayOnlyPage(gateway);
    await page.goto(`${gateway.baseUrl}/dashboard`);
    await page.waitForSelector('#auth-message:has-text("needs an API key")', { timeout: 10_000 });
    await page.fill('#key', 'wrong-key');
    await page.click('#auth button[type=submit]');
    await page.waitForSelector('#auth-message:has-text("refused")', { timeout: 10_000 });
    await page.fill('#key', 'key-acme-123');
    await page.click('#auth button[type=submit]');
    await page.waitForSelector('#connection[data-state="live"]', { timeout: 10_000 });
    await recordStatuses(page);
    const id = await submitThroughForm(page, 'A lighthouse in a storm, waves crashing');
    const videoUrl = await followToVideo(page, gateway, id, { authorization: 'Bearer key-acme-123' });
    expect(outside.filter((url) => url !== IMAGE && url !== videoUrl)).toEqual([]);
    expect(await page.evaluate(() => sessionStorage.length)).toBe(1); // kept for the tab only
    await page.context().close();
    await gateway.dispose();
  });

  it('with a JWT: signs in with the token, uploads an image file through the form, and follows the job to its video', { timeout: 60_000 }, async () => {
    const gateway = await startTestGateway({ simulator: { timing: SLOW }, env: { AUTH_JWT_SECRET: TEST_JWT_SECRET } });
    const { page, outside, errors } = await gatewayOnlyPage(gateway);
    const token = await hsToken({ tenant: 'acme', sub: 'alice' });
    await page.goto(`${gateway.baseUrl}/dashboard`);
    await page.waitForSelector('#auth-message', { state: 'visible', timeout: 10_000 });
    await page.fill('#key', token);
    await page.click('#auth button[type=submit]');
    await page.waitForSelector('#connection[data-state="live"]', { timeout: 10_000 });
    await recordStatuses(page);
    await page.click('#submit-panel summary');
    await page.fill('textarea[name=prompt]', 'A hot-air balloon over a desert at dawn');
    await page.setInputFiles('input[name=image]', { name: 'first-frame.png', mimeType: 'image/png', buffer: IMAGES.png });
    await page.fill('input[name=negativePrompt]', 'blur');
    await page.fill('input[name=cfgScale]', '0.6');
    await page.click('#submit-form button[type=submit]');
    const message = await page.waitForSelector('#message:has-text("Submitted job")', { timeout: 10_000 });
    const id = (/Submitted job ([\w-]+)/.exec((await message.textContent()) ?? '') as RegExpExecArray)[1] as string;
    const headers = { authorization: `Bearer ${token}` };
    const videoUrl = await followToVideo(page, gateway, id, headers);
    const job = (await gateway.gql(`query($id: ID!) { job(id: $id) { userId input { imageUrl } } }`, { id }, headers)).data!.job;
    expect(job.userId).toBe('alice');
    // The file went to the upstream's storage; the job was submitted with its URL, served by the (simulated) CDN.
    expect(job.input.imageUrl).toMatch(new RegExp(`^${gateway.simulator.url}/files/uploads/`));
    expect(outside.filter((url) => url !== videoUrl && url !== job.input.imageUrl)).toEqual([]);
    // The one error: the gateway's 401 to the first look, before the token was typed.
    expect(errors.filter((error) => !/status of 401/.test(error))).toEqual([]);
    await page.context().close();
    await gateway.dispose();
  });

  it('cancels a queued job from its detail, after a confirmation', { timeout: 60_000 }, async () => {
    const gateway = await startTestGateway({ simulator: { timing: { initialQueuePosition: 3, queueStepMs: 20_000 } } });
    const { page } = await gatewayOnlyPage(gateway);
    await page.goto(`${gateway.baseUrl}/dashboard`);
    await page.waitForSelector('#connection[data-state="live"]', { timeout: 10_000 });
    const job = await submitJob(gateway, { prompt: 'A snail crossing a garden path', imageUrl: IMAGE });
    await page.click(`#jobs tbody tr[data-id="${job.id}"]`);
    const dialogs: string[] = [];
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.accept();
    });
    await page.click('#cancel');
    await page.waitForSelector(`#jobs tbody tr[data-id="${job.id}"][data-status="CANCELLED"]`, { timeout: 10_000 });
    expect(dialogs[0]).toContain('Cancel this job?');
    expect(await page.isHidden('#cancel')).toBe(true);
    await page.context().close();
    await gateway.dispose();
  });

  it('after the gateway restarts, the page reconnects and resumes from its last cursor', { timeout: 60_000 }, async () => {
    const simulator = await startSimulator({ timing: SLOW });
    const env = { PORT: String(await freePort()) };
    const sqlitePath = tempSqlitePath();
    const first = await startTestGateway({ sharedSimulator: simulator, sqlitePath, env });
    const { page } = await gatewayOnlyPage(first);
    // Every WebSocket the page opens, with the frames it sent and received.
    const sockets: Array<{ sent: any[]; received: any[] }> = [];
    page.on('websocket', (socket) => {
      const log = { sent: [] as any[], received: [] as any[] };
      sockets.push(log);
      socket.on('framesent', (frame) => log.sent.push(JSON.parse(String(frame.payload))));
      socket.on('framereceived', (frame) => log.received.push(JSON.parse(String(frame.payload))));
    });
    await page.goto(`${first.baseUrl}/dashboard`);
    await page.waitForSelector('#connection[data-state="live"]', { timeout: 10_000 });
    await recordStatuses(page);
    const job = await submitJob(first, { prompt: 'A hot air balloon over a desert canyon', imageUrl: IMAGE });
    await page.waitForSelector(`#jobs tbody tr[data-id="${job.id}"]`, { timeout: 10_000 });
    await first.dispose(); // the socket drops mid-job
    await page.waitForSelector('#connection[data-state="reconnecting"]', { timeout: 10_000 });
    const second = await startTestGateway({ sharedSimulator: simulator, sqlitePath, env });
    await page.waitForSelector(`#jobs tbody tr[data-id="${job.id}"][data-status="COMPLETED"]`, { timeout: 30_000 });
    expect(await page.locator(`#jobs tbody tr[data-id="${job.id}"]`).count()).toBe(1);
    const seen = await page.evaluate((id) => (window as unknown as { seen: Record<string, string[]> }).seen[id], job.id);
    expect(seen?.at(-1)).toBe('COMPLETED');
    // The first socket's last event cursor is what the next socket subscribed with.
    const lastCursor = sockets[0]!.received.filter((m) => m.type === 'next').at(-1).payload.data.jobEvents.cursor;
    const resubscribe = sockets.slice(1).flatMap((s) => s.sent).find((m) => m.type === 'subscribe');
    expect(resubscribe.payload.variables.after).toBe(lastCursor);
    await page.context().close();
    await second.dispose();
  });

  it('GraphiQL renders from the gateway alone, with the three starter operations', { timeout: 60_000 }, async () => {
    const gateway = await startTestGateway({ env: { GATEWAY_API_KEYS: 'acme:key-acme-123' } });
    const { page, outside } = await gatewayOnlyPage(gateway);
    await page.goto(`${gateway.baseUrl}/graphql`);
    await page.waitForSelector('.graphiql-container', { timeout: 45_000 });
    await page.waitForFunction(() => /mutation\s+Submit[\s\S]*subscription\s+Follow[\s\S]*query\s+Recent/.test(document.body.innerText), null, { timeout: 30_000 });
    expect(outside).toEqual([]);
    // Subscriptions go over SSE (fetch), so the Headers tab's Authorization reaches them with keys on.
    const html = await (await fetch(`${gateway.baseUrl}/graphql`, { headers: { accept: 'text/html' } })).text();
    expect(html).toContain('"subscriptionsProtocol":"SSE"');
    await page.context().close();
    await gateway.dispose();
  });
});
