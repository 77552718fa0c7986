/** The checked-in schema.graphql, as text: sorted, so import order never changes it. */
import { lexicographicSortSchema, printSchema } from 'graphql';
import { schema } from './index.ts';

export function printSchemaFile(): string {
  return `${printSchema(lexicographicSortSchema(schema))}\n`;
}
