// Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the store answers).
import { Hono } from 'hono';
import { ProblemError } from '../problem.ts';

export type HealthDeps = { readonly pingStore: () => Promise<boolean> };

export function healthRoute(deps: HealthDeps): Hono {
  const app = new Hono();
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    if (!(await deps.pingStore())) {
      throw new ProblemError(503, 'not-ready', 'Not ready', 'the store does not answer', {
        extensions: { checks: { store: 'down' } },
      });
    }
    return c.json({ status: 'ready', checks: { store: 'up' } });
  });
  return app;
}
