/**
 * Input an outside probe tried (issue 9, items 7-9): imageUrl spellings that other parsers read
 * differently, invisible and control characters in text fields, and input errors without a code.
 * Every refusal is BAD_USER_INPUT with the field at fault, and nothing reaches the upstream.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subscribeSse, subscribeWs, wsClient } from '../helpers/clients.ts';
import { startTestGateway, SUBMIT, validInput, type TestGateway } from '../helpers/start-gateway.ts';

let gateway: TestGateway;
beforeAll(async () => {
  gateway = await startTestGateway();
});
afterAll(() => gateway.dispose());

async function expectRefused(input: Record<string, unknown>, fields: string[]) {
  const before = gateway.simulator.stats.submit;
  const response = await gateway.gql(SUBMIT, { input });
  expect(response.data ?? null, response.raw).toBeNull();
  expect(response.errors?.map((e) => e.extensions?.code), response.raw).toEqual(fields.map(() => 'BAD_USER_INPUT'));
  expect(response.errors?.map((e) => e.extensions?.field).sort(), response.raw).toEqual([...fields].sort());
  expect(gateway.simulator.stats.submit, 'no upstream submit').toBe(before);
  return response;
}

describe('item 7: imageUrl bypasses are refused, and only the normalised URL goes upstream', () => {
  const bypasses: Array<[string, string]> = [
    ['trailing dot on localhost', 'http://localhost./a.png'],
    ['trailing dot on cloud metadata', 'http://metadata.google.internal./a.png'],
    ['percent-encoded trailing dot', 'http://localhost%2e/a.png'],
    ['single-label host', 'http://metadata/a.png'],
    ['IPv4-compatible IPv6 (dotted)', 'http://[::127.0.0.1]/a.png'],
    ['IPv4-compatible IPv6 (hex)', 'http://[::7f00:1]/a.png'],
    ['IPv4-translated IPv6', 'http://[::ffff:0:7f00:1]/a.png'],
    ['IPv4-mapped private IPv6', 'http://[::ffff:10.0.0.1]/a.png'],
    ['NAT64 loopback', 'http://[64:ff9b::7f00:1]/a.png'],
    ['NAT64 private', 'http://[64:ff9b::a00:1]/a.png'],
    ['6to4 loopback', 'http://[2002:7f00:1::]/a.png'],
    ['6to4 link-local', 'http://[2002:a9fe:a9fe::]/a.png'],
    ['backslash before @', 'http://example.com\\@127.0.0.1/a.png'],
    ['empty user before @', 'http://@example.com/a.png'],
    ['leading space', ' https://example.com/a.png'],
    ['trailing space', 'https://example.com/a.png '],
    ['newline inside', 'https://example.com/a\n.png'],
    ['tab inside', 'https://exam\tple.com/a.png'],
    ['trailing NUL', 'https://example.com/a.png\u0000'],
    ['no slashes after the scheme', 'https:example.com/a.png'],
    ['one slash after the scheme', 'https:/example.com/a.png'],
  ];
  it.each(bypasses)('%s: %j', async (_name, imageUrl) => {
    await expectRefused(validInput({ imageUrl }), ['imageUrl']);
  });

  it('a public URL is stored and sent as its normalised href', async () => {
    const response = await gateway.gql(SUBMIT, { input: validInput({ imageUrl: 'HTTPS://Images.Example.COM/a/./b/../cat.png' }) });
    expect(response.errors, response.raw).toBeUndefined();
    expect(response.data?.generateVideo.input.imageUrl).toBe('https://images.example.com/a/cat.png');
  });
});

describe('item 9: text fields refuse control, invisible and bidi characters', () => {
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['prompt of zero-width spaces', { prompt: '\u200b\u200b\u200b' }, 'prompt'],
    ['prompt of joiners and a BOM', { prompt: '\u200d\u2060\ufeff' }, 'prompt'],
    ['prompt of Hangul fillers', { prompt: '\u3164\u3164' }, 'prompt'],
    ['prompt of no-break spaces and line breaks', { prompt: '\u00a0\n\t\u3000' }, 'prompt'],
    ['NUL in prompt', { prompt: 'a cat\u0000' }, 'prompt'],
    ['escape sequence in prompt', { prompt: 'a \u001b[31mred\u001b[0m cat' }, 'prompt'],
    ['lone high surrogate in prompt', { prompt: 'a cat \ud83d' }, 'prompt'],
    ['lone low surrogate in prompt', { prompt: '\ude00 a cat' }, 'prompt'],
    ['bidi override in prompt', { prompt: 'a cat \u202egnp.exe' }, 'prompt'],
    ['bidi isolate in prompt', { prompt: 'a cat \u2067x\u2069' }, 'prompt'],
    ['NUL in negativePrompt', { negativePrompt: 'blur\u0000' }, 'negativePrompt'],
    ['lone surrogate in negativePrompt', { negativePrompt: 'blur \udfff' }, 'negativePrompt'],
    ['bidi override in negativePrompt', { negativePrompt: '\u202dblur' }, 'negativePrompt'],
    ['NUL in idempotencyKey', { idempotencyKey: 'key\u0000' }, 'idempotencyKey'],
    ['newline in idempotencyKey', { idempotencyKey: 'key\nother' }, 'idempotencyKey'],
    ['lone surrogate in idempotencyKey', { idempotencyKey: 'key\ud800' }, 'idempotencyKey'],
    ['bidi override in idempotencyKey', { idempotencyKey: 'key\u202e' }, 'idempotencyKey'],
  ];
  it.each(cases)('%s', async (_name, overrides, field) => {
    await expectRefused(validInput(overrides), [field]);
  });

  it('tabs, line breaks, emoji and combining marks in a prompt are fine', async () => {
    const prompt = 'A cat\tsurfing\nat sunset 🌅, café with e\u0301';
    const response = await gateway.gql(SUBMIT, { input: validInput({ prompt, idempotencyKey: `ok-${Date.now()}-😀` }) });
    expect(response.errors, response.raw).toBeUndefined();
    expect(response.data?.generateVideo.input.prompt).toBe(prompt);
  });
});

describe('item 8: every input error carries a contract code and its field', () => {
  it('reports every bad field of an input at once', async () => {
    await expectRefused(
      validInput({ prompt: '\u200b', imageUrl: 'http://localhost./a.png', cfgScale: 3, idempotencyKey: '' }),
      ['prompt', 'imageUrl', 'cfgScale', 'idempotencyKey'],
    );
  });

  const coercion: Array<[string, Record<string, unknown>, string[]]> = [
    ['wrong type', { input: validInput({ prompt: 5 }) }, ['prompt']],
    ['bad enum value', { input: validInput({ duration: 'SECONDS_7' }) }, ['duration']],
    ['unknown input field', { input: validInput({ aspectRatio: '16:9' }) }, ['aspectRatio']],
    ['missing field', { input: { prompt: 'x' } }, ['imageUrl']],
    ['imageUrl null', { input: validInput({ imageUrl: null }) }, ['imageUrl']],
    ['missing variable', {}, ['input']],
    ['several at once', { input: { prompt: 5, duration: 'SECONDS_7', imageUrl: 'https://example.com/a.png' } }, ['prompt', 'duration']],
  ];
  it.each(coercion)('variable coercion, %s', async (_name, variables, fields) => {
    const before = gateway.simulator.stats.submit;
    const response = await gateway.gql(SUBMIT, variables);
    // 400 for a coercion error; imageUrl may now be absent (an upload instead), so its absence is the resolver's 200.
    expect(response.status).toBeLessThan(500);
    expect(response.errors?.map((e) => e.extensions?.code), response.raw).toEqual(fields.map(() => 'BAD_USER_INPUT'));
    expect(response.errors?.map((e) => e.extensions?.field).sort(), response.raw).toEqual([...fields].sort());
    expect(gateway.simulator.stats.submit).toBe(before);
  });

  const literals: Array<[string, string, string]> = [
    ['wrong type', '{ prompt: 5, imageUrl: "https://example.com/a.png" }', 'prompt'],
    ['bad enum value', '{ prompt: "x", imageUrl: "https://example.com/a.png", duration: SECONDS_7 }', 'duration'],
    ['unknown field', '{ prompt: "x", imageUrl: "https://example.com/a.png", aspectRatio: "16:9" }', 'aspectRatio'],
    ['missing field', '{ prompt: "x" }', 'imageUrl'],
    ['null for a required field', '{ prompt: "x", imageUrl: null }', 'imageUrl'],
  ];
  it.each(literals)('inline literal, %s', async (_name, literal, field) => {
    const response = await gateway.gql(`mutation { generateVideo(input: ${literal}) { id } }`);
    expect(response.errors?.[0]?.extensions, response.raw).toMatchObject({ code: 'BAD_USER_INPUT', field });
  });

  it('the CSRF refusal carries a code and names the header to send', async () => {
    const response = await fetch(`${gateway.httpUrl}?query=${encodeURIComponent('{ jobs { edges { node { id } } } }')}`);
    const body = (await response.json()) as { errors: Array<{ message: string; extensions?: Record<string, unknown> }> };
    expect(response.status).toBe(403);
    expect(body.errors[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(body.errors[0]?.message).toMatch(/x-graphql-csrf/);
  });

  it('over WebSocket: coercion errors and several bad fields, each with its code and field', async () => {
    const client = wsClient(gateway.wsUrl);
    try {
      const coerced = subscribeWs(client, SUBMIT, { input: validInput({ duration: 'SECONDS_7' }) });
      const outcome = await coerced.done;
      const errors = (typeof outcome === 'object' ? (outcome.error as Array<{ extensions?: Record<string, unknown> }>) : null) ?? coerced.events[0]?.errors;
      expect(errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'duration' });

      const several = subscribeWs(client, SUBMIT, { input: validInput({ prompt: '\u0000', cfgScale: 9 }) });
      await several.done;
      expect(several.events[0]?.errors?.map((e) => e.extensions?.field).sort()).toEqual(['cfgScale', 'prompt']);

      const subscription = subscribeWs(client, 'subscription Follow($id: ID!) { jobUpdates(id: $id) { id } }', { id: { not: 'an id' } });
      const ended = await subscription.done;
      const subErrors = (typeof ended === 'object' ? (ended.error as Array<{ extensions?: Record<string, unknown> }>) : null) ?? subscription.events[0]?.errors;
      expect(subErrors?.[0]?.extensions, JSON.stringify(ended)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'id' });
    } finally {
      await client.dispose();
    }
  });

  it('over SSE: a subscription with a missing variable answers BAD_USER_INPUT naming it', async () => {
    const recording = subscribeSse(gateway.httpUrl, 'subscription Follow($id: ID!) { jobUpdates(id: $id) { id } }', {});
    const outcome = await recording.done;
    const errors = recording.events[0]?.errors ?? (typeof outcome === 'object' ? (outcome.error as any)?.errors : undefined);
    expect(errors?.[0]?.extensions, JSON.stringify({ outcome, events: recording.events })).toMatchObject({ code: 'BAD_USER_INPUT', field: 'id' });
  });
});
