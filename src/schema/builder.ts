/** The Pothos builder: plugins and type-level settings only; no types are defined here. */
import SchemaBuilder from '@pothos/core';
import type { GraphQLContext } from './context.ts';

export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  DefaultFieldNullability: false;
  Scalars: { DateTime: { Input: string; Output: string }; File: { Input: File; Output: never } };
}>({
  defaultFieldNullability: false,
});
