// /ops: the operator API. For now it shows what the dev outbox holds.
import { Hono } from 'hono';
import { z } from 'zod';
import type { DevOutboxProvider } from '../../actors/provider/outbox/DevOutboxProvider.ts';
import { ProblemError } from '../problem.ts';

const listQuery = z.object({ limit: z.coerce.number().int().min(1).max(500).default(50) });

export function opsRoute(deps: { readonly devOutbox: DevOutboxProvider }): Hono {
  const app = new Hono();
  app.get('/outbox', async (c) => {
    const query = listQuery.safeParse(c.req.query());
    if (!query.success)
      throw new ProblemError(400, 'invalid-query', 'Invalid query', 'limit must be an integer from 1 to 500');
    return c.json({
      directory: deps.devOutbox.directory,
      messages: await deps.devOutbox.list(query.data.limit),
    });
  });
  app.get('/outbox/:id', async (c) => {
    const entry = await deps.devOutbox.read(c.req.param('id'));
    if (entry === null)
      throw new ProblemError(404, 'not-found', 'Not found', `the dev outbox has no message ${c.req.param('id')}`);
    return c.json(entry);
  });
  return app;
}
