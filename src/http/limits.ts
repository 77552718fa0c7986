/**
 * Operation limits, as envelop plugins so they run on every transport (HTTP, SSE and WebSocket all
 * execute through Yoga's pipeline): depth, aliases, tokens and cost (graphql-armor), optional field
 * suggestions and introspection, plus the HTTP-only ones: request body size, CSRF prevention.
 */
import { blockFieldSuggestionsPlugin } from '@escape.tech/graphql-armor-block-field-suggestions';
import { costLimitPlugin } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import { useDisableIntrospection } from '@graphql-yoga/plugin-disable-introspection';
import type { Plugin } from 'graphql-yoga';
import type { OperationLimits } from '../config.ts';

/** The header a browser page must send on "simple" requests (GET, form posts) when CSRF prevention is on. */
export const CSRF_HEADER = 'x-graphql-csrf';

export function limitPlugins(limits: OperationLimits): Plugin[] {
  const plugins: Plugin[] = [
    bodySizeLimit(limits.maxBodyBytes),
    maxTokensPlugin({ n: limits.maxTokens }) as Plugin,
    maxDepthPlugin({ n: limits.maxDepth, flattenFragments: true }) as Plugin,
    maxAliasesPlugin({ n: limits.maxAliases, allowList: [] }) as Plugin,
    costLimitPlugin({ maxCost: limits.maxCost }) as Plugin,
  ];
  if (!limits.fieldSuggestions) plugins.push(blockFieldSuggestionsPlugin() as Plugin);
  if (!limits.introspection) plugins.push(useDisableIntrospection());
  if (limits.csrfPrevention) plugins.push(useCSRFPrevention({ requestHeaders: [CSRF_HEADER, 'x-graphql-yoga-csrf', 'apollo-require-preflight'] }));
  return plugins;
}

/** Refuses a request whose declared body is larger than `maxBytes` (413), before it is read. */
function bodySizeLimit(maxBytes: number): Plugin {
  return {
    onRequest({ request, endResponse }) {
      const declared = Number(request.headers.get('content-length') ?? 0);
      if (declared > maxBytes) {
        endResponse(
          Response.json(
            { errors: [{ message: `The request body is larger than ${maxBytes} bytes.`, extensions: { code: 'BAD_USER_INPUT' } }] },
            { status: 413 },
          ),
        );
      }
    },
  };
}
