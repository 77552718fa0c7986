/** Writes schema.graphql from the code (sorted), the file clients read. `npm run schema`. */
import { writeFileSync } from 'node:fs';
import { printSchemaFile } from '../src/schema/print.ts';

writeFileSync(new URL('../schema.graphql', import.meta.url), printSchemaFile());
console.log('wrote schema.graphql');
