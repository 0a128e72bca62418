// /v1/campaigns: create a campaign (its S3 audience is checked first), read one with its counts and
// ETA, list them, and start, pause, resume or cancel one. Mounted behind API-key auth, which puts the
// tenant in `principal`.
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { AudienceNotFoundError, AudienceUnavailableError } from '../../actors/campaign/audience/openAudience.ts';
import { type CampaignAction, CampaignStateError } from '../../actors/campaign/CampaignActor.ts';
import { CAMPAIGN_ID, campaignRequestSchema } from '../../actors/campaign/campaignDefinition.ts';
import { CampaignNotFoundError, type Campaigns } from '../../actors/campaign/Campaigns.ts';
import { CampaignExistsError, type CampaignRecord } from '../../actors/campaign/CampaignStore.ts';
import { describeIssues } from '../../runtime/messages/sendRequest.ts';
import { ProblemError } from '../problem.ts';
import { readJson } from './messages.ts';

export type CampaignsRouteDeps = {
  readonly campaigns: Pick<Campaigns, 'create' | 'command' | 'view' | 'list'>;
  /** Largest accepted body (an inline audience of 10,000 recipients fits); default 4 MiB. */
  readonly maxBodyBytes?: number;
};

type Env = { Variables: { principal: string } };

const ACTIONS: readonly CampaignAction[] = ['start', 'pause', 'resume', 'cancel'];

function notFound(id: string): ProblemError {
  return new ProblemError(404, 'campaign-not-found', 'Not found', `no campaign ${id}`);
}

function summary(record: CampaignRecord) {
  return {
    id: record.id,
    name: record.name,
    status: record.status,
    channel: record.channel,
    createdAt: new Date(record.createdAt).toISOString(),
  };
}

export function campaignsRoute(deps: CampaignsRouteDeps): Hono<Env> {
  const app = new Hono<Env>();
  const { campaigns } = deps;
  const maxSize = deps.maxBodyBytes ?? 4 * 1024 * 1024;

  app.post(
    '/',
    bodyLimit({
      maxSize,
      onError: () => {
        throw new ProblemError(
          413,
          'payload-too-large',
          'Payload too large',
          `the body is larger than ${maxSize} bytes`,
        );
      },
    }),
    async (c) => {
      const parsed = campaignRequestSchema.safeParse(await readJson(c.req.raw));
      if (!parsed.success) {
        const errors = describeIssues(parsed.error);
        throw new ProblemError(
          400,
          'invalid-campaign',
          'Invalid campaign',
          `${errors[0]?.path}: ${errors[0]?.message}`,
          {
            extensions: { errors },
          },
        );
      }
      const tenant = c.get('principal');
      try {
        const record = await campaigns.create(tenant, parsed.data);
        const view = await campaigns.view(tenant, record.id);
        c.header('Location', `/v1/campaigns/${encodeURIComponent(record.id)}`);
        return c.json(view, 201);
      } catch (error) {
        if (error instanceof AudienceNotFoundError) {
          throw new ProblemError(422, 'audience-not-found', 'Audience cannot be read', error.message, {
            extensions: { errors: [{ path: 'audience', message: error.message }] },
            cause: error,
          });
        }
        if (error instanceof AudienceUnavailableError) {
          throw new ProblemError(503, 'audience-unavailable', 'Service unavailable', `${error.message}; retry later`, {
            headers: { 'Retry-After': '5' },
            cause: error,
          });
        }
        if (error instanceof CampaignExistsError) {
          throw new ProblemError(409, 'campaign-exists', 'Conflict', error.message, { cause: error });
        }
        throw error;
      }
    },
  );

  app.get('/', async (c) => {
    const raw = c.req.query('limit');
    const limit = raw === undefined ? 100 : /^\d{1,4}$/.test(raw) ? Number(raw) : NaN;
    if (!(limit >= 1 && limit <= 500)) {
      throw new ProblemError(400, 'invalid-query', 'Invalid query', 'limit must be an integer from 1 to 500');
    }
    const records = await campaigns.list(c.get('principal'), limit);
    return c.json({ campaigns: records.map(summary) });
  });

  app.get('/:id', async (c) => {
    const id = c.req.param('id');
    if (!CAMPAIGN_ID.test(id)) throw notFound(id);
    const view = await campaigns.view(c.get('principal'), id);
    if (view === null) throw notFound(id);
    return c.json(view);
  });

  app.post('/:id/:action', async (c) => {
    const id = c.req.param('id');
    const action = c.req.param('action') as CampaignAction;
    if (!ACTIONS.includes(action)) {
      throw new ProblemError(404, 'not-found', 'Not found', `no campaign action ${action}; use ${ACTIONS.join(', ')}`);
    }
    if (!CAMPAIGN_ID.test(id)) throw notFound(id);
    const tenant = c.get('principal');
    try {
      await campaigns.command(tenant, id, action);
    } catch (error) {
      if (error instanceof CampaignNotFoundError) throw notFound(id);
      if (error instanceof CampaignStateError) {
        throw new ProblemError(409, 'campaign-state', 'Conflict', error.message, {
          extensions: { campaignStatus: error.status },
          cause: error,
        });
      }
      throw error;
    }
    return c.json(await campaigns.view(tenant, id));
  });

  return app;
}
