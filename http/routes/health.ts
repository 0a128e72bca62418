// Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the store answers and no
// failure has escalated to the root of the actor tree).
import { Hono } from 'hono';
import type { RootEscalation } from '../../runtime/kernel/ActorSystem.ts';
import { ProblemError } from '../problem.ts';

export type Readiness = { readonly store: boolean; readonly escalations: readonly RootEscalation[] };

export type HealthDeps = { readonly readiness: () => Promise<Readiness> };

export function healthRoute(deps: HealthDeps): Hono {
  const app = new Hono();
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    const { store, escalations } = await deps.readiness();
    const checks = { store: store ? 'up' : 'down', actors: escalations.length === 0 ? 'ok' : 'degraded' };
    if (!store) {
      throw new ProblemError(503, 'not-ready', 'Not ready', 'the store does not answer', { extensions: { checks } });
    }
    if (escalations.length > 0) {
      throw new ProblemError(503, 'degraded', 'Degraded', 'failures escalated to the root of the actor tree', {
        extensions: { status: 'degraded', checks, escalations },
      });
    }
    return c.json({ status: 'ready', checks });
  });
  return app;
}
