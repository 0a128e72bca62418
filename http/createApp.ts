// The hono application: ingress under /v1 (API keys), operator API under /ops (operator token),
// health checks; one error handler turns every failure into a problem document.
import { Hono } from 'hono';
import type { DevOutboxProvider } from '../actors/provider/outbox/DevOutboxProvider.ts';
import type { Logger } from '../runtime/logging/createLogger.ts';
import type { ActorSystem } from '../runtime/kernel/ActorSystem.ts';
import type { Metrics } from '../runtime/metrics/createMetrics.ts';
import type { MessageStore } from '../runtime/messages/MessageStore.ts';
import { StoreUnavailableError } from '../runtime/persistence/StoreError.ts';
import { bearerAuth, tokenMatches } from './middleware/bearerAuth/index.ts';
import { requestLog } from './middleware/requestLog/index.ts';
import { ProblemError, problemResponse } from './problem.ts';
import { healthRoute, type Readiness } from './routes/health.ts';
import { type CampaignsRouteDeps, campaignsRoute } from './routes/campaigns.ts';
import { type MessagesRouteDeps, messagesRoute } from './routes/messages.ts';
import { opsRoute } from './routes/ops.ts';
import { type SuppressionsRouteDeps, suppressionsRoute } from './routes/suppressions.ts';
import { templatesRoute } from './routes/templates.ts';
import type { TemplateStore } from '../runtime/templates/TemplateStore.ts';
import type { SuppressionStore } from '../runtime/policy/SuppressionStore.ts';

export type AppDeps = {
  readonly logger: Logger;
  readonly maxBodyBytes: number;
  readonly maxBatchBodyBytes: number;
  readonly operatorToken: string | undefined;
  readonly messages: MessageStore;
  readonly tenantOfApiKey: (key: string) => Promise<string | null>;
  readonly readiness: () => Promise<Readiness>;
  readonly deliver: MessagesRouteDeps['deliver'];
  readonly admit: MessagesRouteDeps['admit'];
  readonly templates: TemplateStore;
  readonly suppressions: SuppressionStore;
  /** Tells a recipient's live actor of a committed change to its suppression list. */
  readonly suppressionChanged: SuppressionsRouteDeps['changed'];
  readonly campaigns: CampaignsRouteDeps['campaigns'];
  readonly devOutbox: DevOutboxProvider;
  readonly system: ActorSystem;
  readonly metrics: Metrics;
};

export function createApp(deps: AppDeps): Hono {
  const app = new Hono();
  app.use(requestLog(deps.logger, deps.metrics));

  app.route('/', healthRoute({ readiness: deps.readiness }));

  const v1 = new Hono<{ Variables: { principal: string } }>();
  v1.use(bearerAuth({ realm: 'switchboard', resolve: deps.tenantOfApiKey }));
  v1.route(
    '/messages',
    messagesRoute({
      messages: deps.messages,
      deliver: deps.deliver,
      admit: deps.admit,
      templates: deps.templates,
      maxBodyBytes: deps.maxBodyBytes,
      maxBatchBodyBytes: deps.maxBatchBodyBytes,
    }),
  );
  v1.route('/campaigns', campaignsRoute({ campaigns: deps.campaigns }));
  v1.route('/templates', templatesRoute({ templates: deps.templates }));
  v1.route('/suppressions', suppressionsRoute({ suppressions: deps.suppressions, changed: deps.suppressionChanged }));
  app.route('/v1', v1);

  const operatorToken = deps.operatorToken;
  const operatorAuth = bearerAuth({
    realm: 'switchboard-ops',
    resolve: (token) => (operatorToken !== undefined && tokenMatches(token, operatorToken) ? 'operator' : null),
    ...(operatorToken === undefined
      ? { disabledReason: 'the operator API is off; set SWITCHBOARD_OPERATOR_TOKEN to turn it on' }
      : {}),
  });
  const ops = new Hono<{ Variables: { principal: string } }>();
  ops.use(operatorAuth);
  ops.route('/', opsRoute({ devOutbox: deps.devOutbox, system: deps.system }));
  app.route('/ops', ops);

  const metrics = new Hono<{ Variables: { principal: string } }>();
  metrics.use(operatorAuth);
  metrics.get('/', async (c) =>
    c.body(await deps.metrics.registry.metrics(), 200, { 'content-type': deps.metrics.registry.contentType }),
  );
  app.route('/metrics', metrics);

  app.notFound((c) =>
    problemResponse(c, new ProblemError(404, 'not-found', 'Not found', `no route for ${c.req.method} ${c.req.path}`)),
  );
  app.onError((error, c) => {
    if (error instanceof ProblemError) return problemResponse(c, error);
    if (error instanceof StoreUnavailableError) {
      deps.logger.warn({ err: error.cause ?? error, path: c.req.path }, 'store unavailable');
      return problemResponse(
        c,
        new ProblemError(
          503,
          'store-unavailable',
          'Service unavailable',
          'the message store is unavailable; retry later',
          {
            headers: { 'Retry-After': '5' },
          },
        ),
      );
    }
    deps.logger.error({ err: error, path: c.req.path }, 'unhandled error');
    return problemResponse(
      c,
      new ProblemError(500, 'internal', 'Internal server error', 'an unexpected error occurred; it has been logged'),
    );
  });
  return app;
}
