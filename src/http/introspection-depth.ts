/**
 * A depth limit for introspection (graphql-armor's max-depth skips everything under `__schema`, so
 * without this a 200-deep `ofType` nest runs). Depth is counted from the `__schema` or `__type` field
 * (which is 1), fragments flattened, as graphql-armor counts; graphql-js's standard introspection
 * query (what GraphiQL sends) is 15 deep.
 */
import { GraphQLError, Kind, type ASTVisitor, type FragmentDefinitionNode, type SelectionSetNode, type ValidationContext } from 'graphql';
import { ErrorCode } from '../domain/errors.ts';

export function introspectionDepthRule(maxDepth: number): (context: ValidationContext) => ASTVisitor {
  return (context) => {
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const definition of context.getDocument().definitions) {
      if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
    }
    /** Depth of each fragment, computed once (a fragment's depth does not depend on where it is spread). */
    const fragmentDepth = new Map<string, number>();
    const depthOf = (set: SelectionSetNode | undefined): number => {
      let depth = 0;
      for (const selection of set?.selections ?? []) {
        if (selection.kind === Kind.FIELD) depth = Math.max(depth, 1 + depthOf(selection.selectionSet));
        else if (selection.kind === Kind.INLINE_FRAGMENT) depth = Math.max(depth, depthOf(selection.selectionSet));
        else depth = Math.max(depth, spreadDepth(selection.name.value));
      }
      return depth;
    };
    const spreadDepth = (name: string): number => {
      const known = fragmentDepth.get(name);
      if (known !== undefined) return known;
      fragmentDepth.set(name, 0); // a cycle (refused by NoFragmentCycles anyway) counts nothing more
      const depth = depthOf(fragments.get(name)?.selectionSet);
      fragmentDepth.set(name, depth);
      return depth;
    };
    return {
      Field(node) {
        if (node.name.value !== '__schema' && node.name.value !== '__type') return undefined;
        const depth = 1 + depthOf(node.selectionSet);
        if (depth > maxDepth) {
          context.reportError(new GraphQLError(`Introspection depth limit of ${maxDepth} exceeded, found ${depth}.`, { nodes: [node], extensions: { code: ErrorCode.BAD_USER_INPUT } }));
        }
        return false;
      },
    };
  };
}
