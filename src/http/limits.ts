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
import { GraphQLError, NoSchemaIntrospectionCustomRule, type ValidationContext } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { ErrorCode } from '../domain/errors.ts';
import type { OperationLimits } from '../config.ts';
import { bodySizeLimit } from './body-limit.ts';
import { introspectionDepthRule } from './introspection-depth.ts';
import { useInputErrorCodes, withCsrfCode } from './input-errors.ts';
import { useUploadErrors } from './uploads.ts';

/** The header a browser page must send on "simple" requests (GET, form posts) when CSRF prevention is on. */
export const CSRF_HEADER = 'x-graphql-csrf';
/** Every header that satisfies CSRF prevention (ours, Yoga's and Apollo's names). */
export const CSRF_HEADERS: readonly string[] = [CSRF_HEADER, 'x-graphql-yoga-csrf', 'apollo-require-preflight'];

export function limitPlugins(limits: OperationLimits): Plugin[] {
  // Validation limits report their error like any validation rule (instead of throwing), so every
  // transport answers them the same way.
  const report = { propagateOnRejection: false, onReject: [(ctx: ValidationContext | null, error: GraphQLError) => ctx?.reportError(error)] };
  const plugins: Plugin[] = [
    bodySizeLimit(limits),
    useUploadErrors(limits.maxUploadBytes),
    maxTokensPlugin({ n: limits.maxTokens }) as Plugin,
    maxDepthPlugin({ n: limits.maxDepth, flattenFragments: true, ...report }) as Plugin,
    maxAliasesPlugin({ n: limits.maxAliases, allowList: [], ...report }) as Plugin,
    costLimitPlugin({ maxCost: limits.maxCost, ...report }) as Plugin,
    useIntrospectionDepth(limits.maxIntrospectionDepth),
    useBadInputCodes(),
    useInputErrorCodes(),
  ];
  if (!limits.fieldSuggestions) plugins.push(blockFieldSuggestionsPlugin() as Plugin);
  if (!limits.introspection) plugins.push(useNoIntrospection());
  const csrfHeaders = [...CSRF_HEADERS];
  if (limits.csrfPrevention) plugins.push(withCsrfCode(useCSRFPrevention({ requestHeaders: csrfHeaders }), csrfHeaders));
  return plugins;
}

/**
 * Introspection off, on every transport. (@graphql-yoga/plugin-disable-introspection decides in an
 * HTTP-only hook, so it never applies to WebSocket operations.)
 */
function useNoIntrospection(): Plugin {
  return {
    onValidate({ addValidationRule }) {
      addValidationRule(NoSchemaIntrospectionCustomRule);
    },
  };
}

/** GRAPHQL_MAX_INTROSPECTION_DEPTH, on every transport. */
function useIntrospectionDepth(maxDepth: number): Plugin {
  return {
    onValidate({ addValidationRule }) {
      addValidationRule(introspectionDepthRule(maxDepth));
    },
  };
}

/** Parse and validation errors are bad input: give them the contract's code, so clients can tell. */
function useBadInputCodes(): Plugin {
  // Duck-typed: graphql-js may be loaded twice (ESM and CJS), so instanceof is unreliable.
  const withCode = <E extends Error>(error: E): E | GraphQLError =>
    !('extensions' in error) || (error as unknown as GraphQLError).extensions?.code
      ? error
      : withContractCode(error as unknown as GraphQLError);
  const withContractCode = (error: GraphQLError) =>
    new GraphQLError(error.message, {
          nodes: error.nodes ?? null,
          source: error.source ?? null,
          positions: error.positions ?? null,
          path: error.path ?? null,
          originalError: error.originalError ?? null,
          extensions: { ...error.extensions, code: ErrorCode.BAD_USER_INPUT },
        });
  return {
    onParse() {
      return ({ result, replaceParseResult }) => {
        if (result instanceof Error) replaceParseResult(withCode(result) as never);
      };
    },
    onValidate() {
      return ({ result, setResult }) => {
        if (result.length > 0) setResult(result.map(withCode));
      };
    },
  };
}
