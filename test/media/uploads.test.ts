/**
 * Uploads by the GraphQL multipart request spec: checked by their bytes, stored in fal storage (the
 * simulator's) byte for byte, submitted by fal's URL; bad files refused before any upstream call.
 */
import { Client, fetchExchange, gql } from '@urql/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subscribeWs, wsClient } from '../helpers/clients.ts';
import { IMAGES, postUpload, sha256 } from '../helpers/media.ts';
import { FOLLOW, startTestGateway, type TestGateway } from '../helpers/start-gateway.ts';

let gateway: TestGateway;
beforeAll(async () => {
  gateway = await startTestGateway({ env: { MAX_UPLOAD_BYTES: '4096' } });
});
afterAll(() => gateway.dispose());

const prompt = 'A lighthouse in a storm';
const upstreamCalls = () => gateway.simulator.stats.submit + gateway.simulator.storage.initiateCount() + gateway.simulator.storage.uploads().length;

describe('a good image reaches fal storage byte for byte and the job completes', () => {
  const urql = () =>
    new Client({ url: gateway.httpUrl, exchanges: [fetchExchange], preferGetMethod: false, fetchOptions: { headers: { 'x-graphql-csrf': '1' } } });
  const mutation = gql`
    mutation Upload($input: GenerateVideoInput!) { generateVideo(input: $input) { id status input { imageUrl } } }
  `;

  it.each([
    ['png', IMAGES.png, 'image/png', 'photo.png'],
    ['jpeg', IMAGES.jpeg, 'image/jpeg', 'photo.jpg'],
    ['webp', IMAGES.webp, 'image/webp', 'photo.webp'],
  ] as const)('%s through urql', async (_name, bytes, type, name) => {
    const before = gateway.simulator.storage.uploads().length;
    // The declared type is a lie on purpose: the gateway judges the bytes.
    const result = await urql().mutation(mutation, { input: { prompt, image: new File([bytes], name, { type: 'application/octet-stream' }) } }).toPromise();
    expect(result.error).toBeUndefined();
    const job = result.data.generateVideo;
    const uploads = gateway.simulator.storage.uploads();
    expect(uploads).toHaveLength(before + 1);
    const stored = uploads.at(-1)!;
    expect(sha256(stored.bytes)).toBe(sha256(bytes));
    expect(stored.contentType).toBe(type);
    expect(stored.putAuthorization).toBeNull(); // the PUT never carries the key
    expect(job.input.imageUrl).toBe(stored.fileUrl);
    const recording = subscribeWs(wsClient(gateway.wsUrl), FOLLOW, { id: job.id });
    await expect(recording.done).resolves.toBe('complete');
    expect(recording.events.at(-1)!.data!.jobUpdates.status).toBe('COMPLETED');
  });
});

describe('a bad upload: BAD_USER_INPUT with the field, nothing sent upstream (storage included)', () => {
  const textFile = Buffer.from('just some text, not an image at all\n');
  const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>');
  const cases: Array<[string, Record<string, unknown>, { bytes: Uint8Array; name: string; type: string } | null, string]> = [
    ['a text file renamed .png', { prompt }, { bytes: textFile, name: 'cat.png', type: 'image/png' }, 'image'],
    ['an SVG', { prompt }, { bytes: svg, name: 'cat.svg', type: 'image/svg+xml' }, 'image'],
    ['a truncated PNG', { prompt }, { bytes: IMAGES.png.subarray(0, IMAGES.png.length - 20), name: 'cat.png', type: 'image/png' }, 'image'],
    ['a file over MAX_UPLOAD_BYTES', { prompt }, { bytes: Buffer.concat([IMAGES.png, Buffer.alloc(5000)]), name: 'big.png', type: 'image/png' }, 'image'],
    ['both imageUrl and image', { prompt, imageUrl: 'https://images.example.com/cat.png' }, { bytes: IMAGES.png, name: 'cat.png', type: 'image/png' }, 'image'],
    ['neither imageUrl nor image', { prompt }, null, 'imageUrl'],
  ];
  it.each(cases)('%s', async (_name, input, file, field) => {
    const before = upstreamCalls();
    const response = await postUpload(gateway.httpUrl, input, file);
    expect(response.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
    expect(response.data?.generateVideo ?? null).toBeNull();
    expect(upstreamCalls()).toBe(before);
  });
});

it('no lifecycle preference is sent to fal when MEDIA_STORE=off', () => {
  expect(gateway.simulator.storage.lifecyclePreferences().length).toBeGreaterThan(0);
  expect(gateway.simulator.storage.lifecyclePreferences().every((value) => value === null)).toBe(true);
});

it('a body far over the limit is refused before it is read (413 and the connection closed)', async () => {
  const before = upstreamCalls();
  const file = { bytes: Buffer.concat([IMAGES.png, Buffer.alloc(200_000)]), name: 'huge.png', type: 'image/png' };
  // The gateway answers at once and closes the connection; a client still sending may see the reset instead.
  const response = await postUpload(gateway.httpUrl, { prompt }, file).catch((error: Error) => ({ status: 0, errors: undefined, reset: error }));
  if (response.status !== 0) {
    expect(response.status).toBe(413);
    expect(response.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'image' });
  }
  expect(upstreamCalls()).toBe(before);
});

it('an image that is not an upload (JSON) is BAD_USER_INPUT on image', async () => {
  const before = upstreamCalls();
  const response = await gateway.gql('mutation($input: GenerateVideoInput!) { generateVideo(input: $input) { id } }', { input: { prompt, image: 'iVBORw0KGgo=' } });
  expect(response.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'image' });
  expect(upstreamCalls()).toBe(before);
});

it('a chunked multipart body (no Content-Length) is cut at the limit', async () => {
  const before = upstreamCalls();
  const boundary = 'x-boundary-1';
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="operations"\r\n\r\n${JSON.stringify({ query: 'mutation($input: GenerateVideoInput!) { generateVideo(input: $input) { id } }', variables: { input: { prompt, image: null } } })}\r\n--${boundary}\r\nContent-Disposition: form-data; name="map"\r\n\r\n{"0":["variables.input.image"]}\r\n--${boundary}\r\nContent-Disposition: form-data; name="0"; filename="big.png"\r\nContent-Type: image/png\r\n\r\n`;
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent === 0) controller.enqueue(new TextEncoder().encode(head));
      if (sent >= 200) return controller.close(); // 200 x 1 KiB, far past MAX_UPLOAD_BYTES (4096)
      sent++;
      controller.enqueue(new Uint8Array(1024));
    },
  });
  const response = await fetch(gateway.httpUrl, {
    method: 'POST',
    body,
    duplex: 'half',
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'x-graphql-csrf': '1' },
  } as RequestInit);
  const answer = (await response.json()) as { errors?: Array<{ extensions?: Record<string, unknown> }> };
  expect(answer.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'image' });
  expect(upstreamCalls()).toBe(before);
});

it('a multipart POST without the CSRF header is refused', async () => {
  const before = upstreamCalls();
  const response = await postUpload(gateway.httpUrl, { prompt }, { bytes: IMAGES.png, name: 'cat.png', type: 'image/png' }, {});
  expect(response.status).toBe(403);
  expect(upstreamCalls()).toBe(before);
});

it('an upload replayed with its idempotency key is uploaded (and submitted) once', async () => {
  const file = { bytes: IMAGES.jpeg, name: 'cat.jpg', type: 'image/jpeg' };
  const input = { prompt, idempotencyKey: 'upload-replay-1' };
  const initiates = gateway.simulator.storage.initiateCount();
  const submits = gateway.simulator.stats.submit;
  const first = await postUpload(gateway.httpUrl, input, file);
  const second = await postUpload(gateway.httpUrl, input, file);
  expect(first.errors).toBeUndefined();
  expect(second.data!.generateVideo.id).toBe(first.data!.generateVideo.id);
  expect(gateway.simulator.storage.initiateCount()).toBe(initiates + 1);
  expect(gateway.simulator.stats.submit).toBe(submits + 1);
  // The same key with another image is a different input.
  const other = await postUpload(gateway.httpUrl, input, { bytes: IMAGES.png, name: 'cat.jpg', type: 'image/jpeg' });
  expect(other.errors?.[0]?.extensions?.code).toBe('CONFLICT');
  expect(gateway.simulator.storage.initiateCount()).toBe(initiates + 1);
});
