/**
 * Which media type Yoga answers a request's Accept header with (graphql-yoga's useResultProcessors and
 * accept.js): the processors are tried in Yoga's order (SSE, multipart, then the regular JSON one) over
 * the request's media types (utf-8 only, in reverse order), and the last match wins. The lean JSON lane
 * (json-lane.ts) takes a request only when that is the regular processor, so it answers with the same
 * content type Yoga would. The SSE route (sse-request.ts) reads Accept with the same functions.
 */
const PROCESSORS: ReadonlyArray<{ regular: boolean; types: readonly string[] }> = [
  { regular: false, types: ['text/event-stream'] },
  { regular: false, types: ['multipart/mixed'] },
  { regular: true, types: ['application/graphql-response+json', 'application/json'] },
];

/** The request's media types as Yoga lists them: no spaces, lower case, utf-8 only, last first. */
export function requestTypes(accept: string): string[] {
  const types: string[] = [];
  for (const entry of accept.replace(/\s/g, '').toLowerCase().split(',')) {
    const [type = '', ...parameters] = entry.split(';');
    if ((parameters.find((p) => p.includes('charset=')) ?? 'charset=utf-8') === 'charset=utf-8') types.push(type);
  }
  return types.reverse();
}

/** Yoga's isMatchingMediaType(processor type, request type): the request's side may be a wildcard. */
export function matches(processorType: string, requested: string): boolean {
  const [pre, suf] = processorType.split('/');
  const [askedPre, askedSuf] = requested.split('/');
  return (askedPre === '*' || askedPre === pre) && (askedSuf === '*' || askedSuf === suf);
}

function choose(accept: string): string | null {
  let chosen: { regular: boolean; type: string } | null = null;
  const requested = requestTypes(accept);
  for (const processor of PROCESSORS) {
    for (const type of requested) {
      for (const candidate of processor.types) if (matches(candidate, type)) chosen = { regular: processor.regular, type: candidate };
    }
  }
  return chosen?.regular ? chosen.type : null;
}

const chosen = new Map<string, string | null>();

/** The JSON media type Yoga answers a non-stream result with for this Accept header; null when Yoga would pick another processor (or none). */
export function regularMediaType(accept: string | undefined): string | null {
  const key = accept || '*/*';
  let type = chosen.get(key);
  if (type === undefined) {
    type = choose(key);
    if (chosen.size < 256) chosen.set(key, type); // clients send a handful of distinct headers
  }
  return type;
}
