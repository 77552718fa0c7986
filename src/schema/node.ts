/**
 * Relay's object identification, the plain way: `interface Node { id: ID! }`, `Job implements Node`
 * and `node(id:)`. (@pothos/plugin-relay would make ids global, base64 "Job:<id>", while the contract's
 * `job(id:)` and `Job.id` use the raw id, and it brings its own PageInfo, which our `jobs` connection
 * already defines.) Job is the only node type, and its id is already unique across the schema.
 */
import type { Job } from '../domain/job.ts';
import { builder } from './builder.ts';

export const NodeRef = builder.interfaceRef<Job>('Node').implement({
  description: 'An object with a globally unique id (Relay). Only jobs, so far.',
  resolveType: () => 'Job',
  fields: (t) => ({
    id: t.exposeID('id'),
  }),
});

builder.queryField('node', (t) =>
  t.field({
    type: NodeRef,
    nullable: true,
    description: 'A Job by its id (the same id `job(id:)` takes); null when unknown or not yours.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => ctx.jobs.get(ctx.caller, String(args.id)),
  }),
);
