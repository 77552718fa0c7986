/**
 * Queries run compiled (graphql-jit) once their document is seen again: the documents dashboards poll
 * (`job`, `jobs`, `usage`) then skip graphql-js's generic executor, the largest part of a read
 * (jobs(first: 20): about 40 % less server CPU per request in the read bench, scripts/bench/read-path.ts).
 *
 * - Only queries: mutations and subscriptions keep the standard executor (the WebSocket cohorts and the
 *   submit path rely on it).
 * - A document is compiled on its second execution, so a stream of one-off documents never pays for
 *   compilation; one graphql-jit cannot compile keeps the standard executor.
 * - An answer with errors comes from the standard executor (graphql-jit's errors have no `locations`),
 *   so clients see exactly the answers they saw before.
 * - The compiled form is keyed by Yoga's parsed document (a WeakMap): it goes when Yoga's document cache
 *   drops the document.
 */
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import type { DocumentNode, ExecutionArgs, OperationDefinitionNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';

/** Executions of a document on the standard executor before it is compiled. */
export const COMPILE_AFTER = 1;

type Entry = { runs: number; compiled?: CompiledQuery | null };

function operationOf(document: DocumentNode, operationName: string | null | undefined): OperationDefinitionNode | null {
  let found: OperationDefinitionNode | null = null;
  for (const definition of document.definitions) {
    if (definition.kind !== 'OperationDefinition') continue;
    if (operationName ? definition.name?.value === operationName : found === null) found = definition;
    else if (!operationName) return null; // several operations and no name: the executor reports it
  }
  return found;
}

export interface QueryJitOptions {
  /** graphql-jit's compileQuery (a test passes a counting wrapper). */
  compile?: typeof compileQuery;
}

export function useQueryJit({ compile = compileQuery }: QueryJitOptions = {}): Plugin {
  const entries = new WeakMap<DocumentNode, Map<string, Entry>>();

  function compiledFor(args: ExecutionArgs): CompiledQuery | null {
    const operation = operationOf(args.document, args.operationName);
    if (operation?.operation !== 'query') return null;
    let byName = entries.get(args.document);
    if (!byName) entries.set(args.document, (byName = new Map()));
    const name = operation.name?.value ?? '';
    let entry = byName.get(name);
    if (!entry) byName.set(name, (entry = { runs: 0 }));
    if (entry.compiled !== undefined) return entry.compiled;
    if (entry.runs++ < COMPILE_AFTER) return null;
    const result = compile(args.schema, args.document, operation.name?.value);
    entry.compiled = isCompiledQuery(result) ? result : null;
    return entry.compiled;
  }

  return {
    onExecute({ args, executeFn, setExecuteFn }) {
      const compiled = compiledFor(args);
      if (!compiled) return;
      setExecuteFn(async (execution: ExecutionArgs) => {
        const result = await compiled.query(execution.rootValue, execution.contextValue, execution.variableValues ?? {});
        // graphql-jit's errors lack `locations`: an answer with errors is the standard executor's (a query
        // has no side effects to repeat, and errors are rare in what is polled).
        return result.errors?.length ? executeFn(execution) : result;
      });
    },
  };
}
