// /v1/messages: accept a send (202, or 200 for a repeated idempotency key), accept up to 1,000 in one
// request with a result per item, and show a message's state.
import { Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { z } from 'zod';
import type { MessageStore } from '../../runtime/messages/MessageStore.ts';
import {
  type Channel,
  describeIssues,
  type Priority,
  type SendRequest,
  sendRequestSchema,
} from '../../runtime/messages/sendRequest.ts';
import { StoreUnavailableError } from '../../runtime/persistence/StoreError.ts';
import type { TemplateStore } from '../../runtime/templates/TemplateStore.ts';
import { ProblemError } from '../problem.ts';

export type AcceptedMessage = {
  readonly id: string;
  readonly channel: Channel;
  readonly tenant: string;
  readonly recipientId: string;
  readonly priority: Priority;
  /** Set for a replayed message, which goes straight back to its channel. */
  readonly state?: 'queued';
};

/** Whether a channel takes new sends now, or is pushed back (its durable backlog is over its limit). */
export type Admission = (
  channel: Channel,
) => { readonly ok: true } | { readonly ok: false; readonly retryAfterSeconds: number };

export type MessagesRouteDeps = {
  readonly messages: MessageStore;
  /** Hands an accepted message to its recipient's actor. */
  readonly deliver: (message: AcceptedMessage) => void;
  readonly admit: Admission;
  readonly templates: Pick<TemplateStore, 'exists' | 'missing'>;
  readonly maxBodyBytes: number;
  readonly maxBatchBodyBytes: number;
};

export const MAX_BATCH = 1_000;

/** One item's outcome in a batch response; `status` is what a single POST would have answered. */
export type BatchItemResult =
  | { readonly index: number; readonly status: 202; readonly id: string; readonly state: 'accepted' }
  | {
      readonly index: number;
      readonly status: 200;
      readonly id: string;
      readonly state: 'accepted';
      readonly duplicate: true;
    }
  | { readonly index: number; readonly status: 400; readonly errors: ReturnType<typeof describeIssues> }
  | { readonly index: number; readonly status: 429; readonly error: string; readonly retryAfterSeconds: number }
  | { readonly index: number; readonly status: 503; readonly error: string };

type Env = { Variables: { principal: string } };

const batchSchema = z.object({ messages: z.array(z.unknown()).min(1).max(MAX_BATCH) }).strict();

function limit(maxSize: number): MiddlewareHandler {
  return bodyLimit({
    maxSize,
    onError: () => {
      throw new ProblemError(413, 'payload-too-large', 'Payload too large', `the body is larger than ${maxSize} bytes`);
    },
  });
}

function pushedBack(channel: Channel, retryAfterSeconds: number): ProblemError {
  return new ProblemError(
    429,
    'channel-pushed-back',
    'Too many requests',
    `channel ${channel} is over its backlog limit; retry later`,
    {
      headers: { 'Retry-After': String(retryAfterSeconds) },
      extensions: { channel },
    },
  );
}

function missingTemplate(id: string): ReturnType<typeof describeIssues> {
  return [{ path: 'template.id', message: `template ${id} does not exist` }];
}

export function messagesRoute(deps: MessagesRouteDeps): Hono<Env> {
  const app = new Hono<Env>();

  app.post('/', limit(deps.maxBodyBytes), async (c) => {
    const parsed = sendRequestSchema.safeParse(await readJson(c.req.raw));
    if (!parsed.success) {
      throw new ProblemError(400, 'invalid-message', 'Invalid message', 'the message does not match the schema', {
        extensions: { errors: describeIssues(parsed.error) },
      });
    }
    const tenant = c.get('principal');
    const template = parsed.data.template;
    if (template && !(await deps.templates.exists(tenant, template.id))) {
      const errors = missingTemplate(template.id);
      throw new ProblemError(400, 'invalid-message', 'Invalid message', errors[0]?.message, { extensions: { errors } });
    }
    const admission = deps.admit(parsed.data.channel);
    if (!admission.ok) throw pushedBack(parsed.data.channel, admission.retryAfterSeconds);
    const result = await deps.messages.accept(tenant, parsed.data);
    if (!result.created) return c.json({ id: result.id, status: 'accepted', duplicate: true }, 200);
    deps.deliver({
      id: result.id,
      channel: parsed.data.channel,
      tenant,
      recipientId: parsed.data.to.id,
      priority: parsed.data.priority,
    });
    c.header('Location', `/v1/messages/${result.id}`);
    return c.json({ id: result.id, status: 'accepted' }, 202);
  });

  app.post('/batch', limit(deps.maxBatchBodyBytes), async (c) => {
    const body = batchSchema.safeParse(await readJson(c.req.raw));
    if (!body.success) {
      throw new ProblemError(
        400,
        'invalid-batch',
        'Invalid batch',
        `send { "messages": [...] } with 1 to ${MAX_BATCH} messages`,
      );
    }
    const tenant = c.get('principal');
    const results = new Array<BatchItemResult>(body.data.messages.length);
    const valid: Array<{ index: number; request: SendRequest }> = [];
    const parsedItems = body.data.messages.map((raw) => sendRequestSchema.safeParse(raw));
    const templateIds = parsedItems.flatMap((parsed) =>
      parsed.success && parsed.data.template ? [parsed.data.template.id] : [],
    );
    const missing =
      templateIds.length > 0 ? await deps.templates.missing(tenant, [...new Set(templateIds)]) : new Set<string>();
    parsedItems.forEach((parsed, index) => {
      if (!parsed.success) {
        results[index] = { index, status: 400, errors: describeIssues(parsed.error) };
        return;
      }
      if (parsed.data.template && missing.has(parsed.data.template.id)) {
        results[index] = { index, status: 400, errors: missingTemplate(parsed.data.template.id) };
        return;
      }
      const admission = deps.admit(parsed.data.channel);
      if (!admission.ok) {
        const error = `channel ${parsed.data.channel} is over its backlog limit; retry later`;
        results[index] = { index, status: 429, error, retryAfterSeconds: admission.retryAfterSeconds };
        return;
      }
      valid.push({ index, request: parsed.data });
    });
    const settled = await Promise.allSettled(
      deps.messages.acceptMany(valid.map(({ request }) => ({ tenant, request }))),
    );
    settled.forEach((outcome, i) => {
      const { index, request } = valid[i] as { index: number; request: SendRequest };
      if (outcome.status === 'rejected') {
        if (!(outcome.reason instanceof StoreUnavailableError)) throw outcome.reason;
        results[index] = { index, status: 503, error: 'the message store is unavailable; retry this item later' };
      } else if (outcome.value.created) {
        deps.deliver({
          id: outcome.value.id,
          channel: request.channel,
          tenant,
          recipientId: request.to.id,
          priority: request.priority,
        });
        results[index] = { index, status: 202, id: outcome.value.id, state: 'accepted' };
      } else {
        results[index] = { index, status: 200, id: outcome.value.id, state: 'accepted', duplicate: true };
      }
    });
    const count = (status: number) => results.filter((result) => result.status === status).length;
    if (valid.length > 0 && count(503) === valid.length && count(400) === 0) {
      throw new StoreUnavailableError('every item of the batch failed to be written');
    }
    return c.json(
      {
        accepted: count(202),
        duplicates: count(200),
        invalid: count(400),
        pushedBack: count(429),
        unavailable: count(503),
        results,
      },
      200,
    );
  });

  app.post('/:id/retry', async (c) => {
    const tenant = c.get('principal');
    const message = await deps.messages.find(tenant, c.req.param('id'));
    if (message === null) throw new ProblemError(404, 'not-found', 'Not found', `no message ${c.req.param('id')}`);
    if (message.state !== 'failed' && message.state !== 'dead') {
      throw new ProblemError(
        409,
        'not-replayable',
        'Not replayable',
        `message ${message.id} is ${message.state}; only failed or dead messages can be retried`,
      );
    }
    const replayed = await deps.messages.replay(message.id);
    deps.deliver({
      id: replayed.id,
      channel: replayed.channel,
      tenant,
      recipientId: replayed.to.id,
      priority: replayed.priority,
      state: 'queued',
    });
    return c.json({ id: replayed.id, status: replayed.state }, 202);
  });

  app.get('/:id', async (c) => {
    const message = await deps.messages.find(c.get('principal'), c.req.param('id'));
    if (message === null) throw new ProblemError(404, 'not-found', 'Not found', `no message ${c.req.param('id')}`);
    return c.json({
      id: message.id,
      status: message.state,
      channel: message.channel,
      priority: message.priority,
      idempotencyKey: message.idempotencyKey,
      to: message.to,
      attempts: message.attempts,
      provider: message.provider,
      lastError: message.lastError,
      campaignId: message.campaignId,
      sendAt: message.sendAt,
      createdAt: message.createdAt,
      updatedAt: message.updatedAt,
      transitions: message.transitions,
    });
  });

  return app;
}

/** Parses a JSON body or throws a 400 problem saying what is wrong with it. */
export async function readJson(request: Request): Promise<unknown> {
  const type = request.headers.get('content-type') ?? '';
  if (!/^application\/([\w.+-]+\+)?json\b/i.test(type)) {
    throw new ProblemError(
      415,
      'unsupported-media-type',
      'Unsupported media type',
      'send the body as application/json',
    );
  }
  const text = await request.text();
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ProblemError(
      400,
      'malformed-json',
      'Malformed JSON',
      error instanceof Error ? error.message : 'the body is not JSON',
    );
  }
}
