/**
 * Contract codes on every input error, on every transport (HTTP, SSE and WebSocket all run through
 * Yoga's envelop pipeline):
 * - variable coercion errors (wrong type, bad enum value, unknown input field, missing variable,
 *   null for a required field) and inline literal errors get BAD_USER_INPUT and `extensions.field`;
 * - a resolver's InvalidInputsError (several bad fields) becomes one error per field.
 */
import { GraphQLError, visit, type ASTNode, type DocumentNode, type ExecutionResult } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { ErrorCode } from '../domain/errors.ts';

type Located = GraphQLError;

export function useInputErrorCodes(): Plugin {
  const onResult = ({ result, setResult }: { result: unknown; setResult: (r: ExecutionResult) => void }) => {
    if (!isExecutionResult(result) || !result.errors?.length) return;
    setResult({ ...result, errors: result.errors.flatMap(expandOrCode) });
  };
  return {
    onValidate({ params }) {
      return ({ result, setResult }) => {
        if (result.length > 0) setResult(result.map((error) => withField(error, fieldOfLiteral(error, params.documentAST))));
      };
    },
    onExecute: () => ({ onExecuteDone: onResult }),
    onSubscribe: () => ({ onSubscribeResult: onResult }),
  };
}

function isExecutionResult(value: unknown): value is ExecutionResult {
  return typeof value === 'object' && value !== null && !(Symbol.asyncIterator in value) && 'errors' in value;
}

/** One error per field for an InvalidInputsError; a code and field for a variable coercion error. */
function expandOrCode(error: Located): Located[] {
  const original = error.originalError as { name?: string; errors?: unknown } | undefined;
  if (original?.name === 'InvalidInputsError' && Array.isArray(original.errors)) {
    return original.errors.map((inner: Error) => copy(error, inner.message, {}, inner));
  }
  if (error.extensions?.code && (error.extensions.code !== ErrorCode.BAD_USER_INPUT || error.extensions.field !== undefined)) return [error];
  const field = fieldOfVariableError(error.message);
  return field === null ? [error] : [withField(error, field)];
}

function withField(error: Located, field: string | null): Located {
  if (error.extensions?.code && (field === null || error.extensions.field !== undefined)) return error;
  return copy(error, error.message, { code: error.extensions?.code ?? ErrorCode.BAD_USER_INPUT, ...(field ? { field } : {}) });
}

function copy(error: Located, message: string, extensions: Record<string, unknown>, originalError?: Error): Located {
  return new GraphQLError(message, {
    nodes: error.nodes ?? null,
    source: error.source ?? null,
    positions: error.positions ?? null,
    path: error.path ?? null,
    originalError: originalError ?? error.originalError ?? null,
    extensions: { ...error.extensions, ...extensions },
  });
}

/**
 * The input field a graphql-js variable coercion message names, e.g.
 * `Variable "$input" got invalid value "X" at "input.duration"; ...` -> duration;
 * `...; Field "imageUrl" of required type "String!" was not provided.` -> imageUrl;
 * `Variable "$input" of required type "GenerateVideoInput!" was not provided.` -> input.
 * Null when the message is not a variable error.
 */
export function fieldOfVariableError(message: string): string | null {
  const variable = /^Variable "\$([\w]+)"/.exec(message);
  if (!variable) return null;
  const at = / at "([\w.[\]]+)";/.exec(message);
  if (at) return lastSegment(at[1]!);
  const named = /; Field "([\w.]+)" (?:of required type|is not defined)/.exec(message);
  if (named) return lastSegment(named[1]!);
  return variable[1]!;
}

const lastSegment = (path: string) => path.replace(/\[\d+\]/g, '').split('.').filter(Boolean).pop() ?? path;

/** The input field an inline literal's validation error is about (the object field or argument that holds the bad value). */
function fieldOfLiteral(error: Located, document: DocumentNode): string | null {
  const node = error.nodes?.[0];
  if (!node) return null;
  if (node.kind === 'ObjectField' || node.kind === 'Argument') return node.name.value;
  const named = /^Field "([\w.]+)" (?:of required type|is not defined)/.exec(error.message);
  if (named) return lastSegment(named[1]!);
  return holderOf(node, document);
}

function holderOf(target: ASTNode, document: DocumentNode): string | null {
  let found: string | null = null;
  const check = (holder: { name: { value: string }; value: ASTNode }) => {
    if (found === null && (holder.value === target || sameLocation(holder.value, target))) found = holder.name.value;
  };
  visit(document, { ObjectField: check, Argument: check });
  return found;
}

/**
 * Yoga's CSRF prevention, with the contract's code and the header to send: its refusal (403) is
 * something the client can fix.
 */
export function withCsrfCode(plugin: Plugin, headers: string[]): Plugin {
  const parse = plugin.onRequestParse;
  if (!parse) return plugin;
  return {
    ...plugin,
    onRequestParse(payload) {
      try {
        return parse(payload);
      } catch (error) {
        const http = (error as GraphQLError).extensions?.http ?? { status: 403 };
        throw new GraphQLError(`Required CSRF header not present: send one of ${headers.join(', ')} (any value), or a JSON content type.`, {
          extensions: { code: ErrorCode.BAD_USER_INPUT, http },
        });
      }
    },
  };
}

const sameLocation = (a: ASTNode, b: ASTNode) => a.loc !== undefined && b.loc !== undefined && a.loc.start === b.loc.start && a.loc.end === b.loc.end;
