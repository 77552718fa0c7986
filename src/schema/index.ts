/** Loads every schema module and builds the schema; nothing else. */
import { builder } from './builder.ts';
import './scalars.ts';
import './job.ts';
import './generate-video.ts';
import './cancel-job.ts';
import './job-updates.ts';
import './money.ts';
import './job-events.ts';
import './node.ts';

export const schema = builder.toSchema({ sortSchema: true });
