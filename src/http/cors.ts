/**
 * CORS from CORS_ORIGINS: Yoga's `cors` option, and the same headers for the responses the SSE route
 * (sse-subscriptions.ts) writes itself, computed as Yoga's CORS plugin (@whatwg-node/server's useCORS)
 * computes them for that option.
 */
export type CorsOption = false | { origin: string | string[]; credentials: boolean; allowedHeaders: string[]; methods: string[] };

/** Browser origins allowed by CORS: ['*'] any, [] none. */
export function corsOption(origins: string[]): CorsOption {
  if (origins.length === 0) return false;
  return {
    origin: origins.includes('*') ? '*' : origins,
    credentials: false,
    allowedHeaders: ['authorization', 'content-type', 'accept', 'x-request-id', 'x-graphql-csrf'],
    methods: ['GET', 'POST', 'OPTIONS'],
  };
}

/** The CORS response headers for a request from `origin` (none without an Origin header). */
export function corsHeaders(origins: string[]): (origin: string | undefined) => Record<string, string> {
  const option = corsOption(origins);
  return (origin) => {
    if (option === false || origin === undefined) return {};
    const headers: Record<string, string> = {};
    const allowed = option.origin;
    if (allowed.length === 0 || allowed.includes('*')) {
      headers['access-control-allow-origin'] = origin;
      headers.vary = 'Origin';
    } else if (typeof allowed === 'string' || allowed.length === 1) {
      headers['access-control-allow-origin'] = typeof allowed === 'string' ? allowed : (allowed[0] as string);
    } else if (allowed.includes(origin)) {
      headers['access-control-allow-origin'] = origin;
      headers.vary = 'Origin';
    } else {
      headers['access-control-allow-origin'] = 'null';
    }
    headers['access-control-allow-methods'] = option.methods.join(', ');
    headers['access-control-allow-headers'] = option.allowedHeaders.join(', ');
    return headers;
  };
}
