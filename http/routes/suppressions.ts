// /v1/suppressions: a tenant's suppression list. Add a recipient (on one channel, or on all when the
// channel is omitted) with a reason, remove it, list them. Each change is told to the recipient's live
// actor after it has committed, so it applies from the very next message.
import { Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { z } from 'zod';
import { CHANNELS, type Channel, describeIssues } from '../../runtime/messages/sendRequest.ts';
import type { SuppressionChange } from '../../runtime/policy/suppression.ts';
import type { SuppressionEntry, SuppressionStore } from '../../runtime/policy/SuppressionStore.ts';
import { ProblemError } from '../problem.ts';
import { readJson } from './messages.ts';

export type SuppressionsRouteDeps = {
  readonly suppressions: Pick<SuppressionStore, 'add' | 'remove' | 'list'>;
  /** Tells the recipient's actor, if it is live, of a committed change. */
  readonly changed: (tenant: string, recipientId: string, change: SuppressionChange) => void;
};

type Env = { Variables: { principal: string } };

export const MAX_SUPPRESSION_LIST = 1_000;
const MAX_BODY_BYTES = 16_384;

const keySchema = z.object({ recipientId: z.string().min(1).max(256), channel: z.enum(CHANNELS).optional() }).strict();
const addSchema = keySchema.extend({ reason: z.string().min(1).max(1_000).optional() }).strict();

const view = (entry: SuppressionEntry) => ({
  recipientId: entry.recipientId,
  channel: entry.channel,
  reason: entry.reason,
  createdAt: entry.createdAt,
});

function invalid(error: z.ZodError): ProblemError {
  const errors = describeIssues(error);
  return new ProblemError(400, 'invalid-suppression', 'Invalid suppression', errors[0]?.message, {
    extensions: { errors },
  });
}

function limit(maxSize: number): MiddlewareHandler {
  return bodyLimit({
    maxSize,
    onError: () => {
      throw new ProblemError(413, 'payload-too-large', 'Payload too large', `the body is larger than ${maxSize} bytes`);
    },
  });
}

export function suppressionsRoute(deps: SuppressionsRouteDeps): Hono<Env> {
  const app = new Hono<Env>();

  app.post('/', limit(MAX_BODY_BYTES), async (c) => {
    const parsed = addSchema.safeParse(await readJson(c.req.raw));
    if (!parsed.success) throw invalid(parsed.error);
    const tenant = c.get('principal');
    const { recipientId, channel, reason } = parsed.data;
    const entry = await deps.suppressions.add(tenant, recipientId, channel ?? null, reason ?? null);
    deps.changed(tenant, recipientId, {
      kind: 'added',
      suppression: { channel: entry.channel, reason: entry.reason },
    });
    return c.json(view(entry), 201);
  });

  // The keys come in the query (`?recipientId=…&channel=…`) or, without a query, in a JSON body.
  app.delete('/', limit(MAX_BODY_BYTES), async (c) => {
    const query = c.req.query();
    const hasBody = c.req.header('content-type') !== undefined || c.req.header('content-length') !== undefined;
    const raw = Object.keys(query).length > 0 || !hasBody ? query : await readJson(c.req.raw);
    const parsed = keySchema.safeParse(raw);
    if (!parsed.success) throw invalid(parsed.error);
    const tenant = c.get('principal');
    const { recipientId } = parsed.data;
    const channel: Channel | null = parsed.data.channel ?? null;
    if (!(await deps.suppressions.remove(tenant, recipientId, channel))) {
      const on = channel === null ? 'all channels' : channel;
      throw new ProblemError(404, 'not-found', 'Not found', `recipient ${recipientId} is not suppressed on ${on}`);
    }
    deps.changed(tenant, recipientId, { kind: 'removed', channel });
    return c.body(null, 204);
  });

  app.get('/', async (c) => {
    const recipientId = c.req.query('recipientId');
    const rawLimit = c.req.query('limit');
    const pageSize = rawLimit === undefined ? 100 : /^\d{1,4}$/.test(rawLimit) ? Number(rawLimit) : NaN;
    if (!(pageSize >= 1 && pageSize <= MAX_SUPPRESSION_LIST)) {
      throw new ProblemError(
        400,
        'invalid-query',
        'Invalid query',
        `limit must be an integer from 1 to ${MAX_SUPPRESSION_LIST}`,
        {
          extensions: { errors: [{ path: 'limit', message: `an integer from 1 to ${MAX_SUPPRESSION_LIST}` }] },
        },
      );
    }
    if (recipientId !== undefined && (recipientId === '' || recipientId.length > 256)) {
      throw new ProblemError(400, 'invalid-query', 'Invalid query', 'recipientId must be 1 to 256 characters', {
        extensions: { errors: [{ path: 'recipientId', message: '1 to 256 characters' }] },
      });
    }
    const entries = await deps.suppressions.list(c.get('principal'), {
      ...(recipientId === undefined ? {} : { recipientId }),
      limit: pageSize,
    });
    return c.json({ suppressions: entries.map(view) }, 200);
  });

  return app;
}
