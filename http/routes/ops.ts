// /ops: the operator API — the live actor tree, dead letters, and what the dev outbox holds.
import { Hono } from 'hono';
import { z } from 'zod';
import type { DevOutboxProvider } from '../../actors/provider/outbox/DevOutboxProvider.ts';
import type { ActorSystem } from '../../runtime/kernel/ActorSystem.ts';
import { inspect } from '../../runtime/kernel/introspect.ts';
import { ProblemError } from '../problem.ts';

const treeQuery = z.object({
  path: z.string().startsWith('/').optional(),
  depth: z.coerce.number().int().min(0).max(10).default(3),
  limit: z.coerce.number().int().min(1).max(10_000).default(100),
});
const listQuery = z.object({ limit: z.coerce.number().int().min(1).max(500).default(50) });

export type OpsDeps = { readonly devOutbox: DevOutboxProvider; readonly system: ActorSystem };

export function opsRoute(deps: OpsDeps): Hono {
  const app = new Hono();

  app.get('/actors', (c) => {
    const query = treeQuery.safeParse(c.req.query());
    if (!query.success) {
      throw new ProblemError(
        400,
        'invalid-query',
        'Invalid query',
        'path starts with /; depth is 0–10; limit is 1–10000',
      );
    }
    return actorResponse(c.json.bind(c), deps.system, query.data.path, query.data.depth, query.data.limit);
  });

  // /ops/actors/switchboard/channels/email — one actor (and its children, to `depth`, default 1).
  app.get('/actors/*', (c) => {
    const query = treeQuery.safeParse({ depth: '1', ...c.req.query() });
    if (!query.success)
      throw new ProblemError(400, 'invalid-query', 'Invalid query', 'depth is 0–10; limit is 1–10000');
    const path = decodeURIComponent(c.req.path.slice(c.req.path.indexOf('/actors/') + '/actors'.length));
    return actorResponse(c.json.bind(c), deps.system, path, query.data.depth, query.data.limit);
  });

  app.get('/dead-letters', (c) =>
    c.json({
      total: deps.system.deadLetters.total,
      byReason: deps.system.deadLetters.counts(),
      recent: deps.system.deadLetters.recent(),
    }),
  );

  app.get('/outbox', async (c) => {
    const query = listQuery.safeParse(c.req.query());
    if (!query.success)
      throw new ProblemError(400, 'invalid-query', 'Invalid query', 'limit must be an integer from 1 to 500');
    return c.json({ directory: deps.devOutbox.directory, messages: await deps.devOutbox.list(query.data.limit) });
  });

  app.get('/outbox/:id', async (c) => {
    const entry = await deps.devOutbox.read(c.req.param('id'));
    if (entry === null)
      throw new ProblemError(404, 'not-found', 'Not found', `the dev outbox has no message ${c.req.param('id')}`);
    return c.json(entry);
  });

  return app;
}

function actorResponse(
  json: (body: unknown) => Response,
  system: ActorSystem,
  path: string | undefined,
  depth: number,
  limit: number,
) {
  const view = inspect(system, { ...(path !== undefined ? { path } : {}), depth, limit });
  if (view === undefined) throw new ProblemError(404, 'not-found', 'Not found', `no actor at ${path ?? '/'}`);
  return json(view);
}
