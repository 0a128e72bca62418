// /v1/messages: accept a send (202, or 200 for a repeated idempotency key) and show a message's state.
import { Hono } from 'hono';
import type { MessageStore } from '../../runtime/messages/MessageStore.ts';
import { type Channel, describeIssues, sendRequestSchema } from '../../runtime/messages/sendRequest.ts';

export type AcceptedMessage = {
  readonly id: string;
  readonly channel: Channel;
  readonly tenant: string;
  readonly recipientId: string;
};
import { ProblemError } from '../problem.ts';

export type MessagesRouteDeps = {
  readonly messages: MessageStore;
  /** Hands an accepted message to its recipient's actor. */
  readonly deliver: (message: AcceptedMessage) => void;
};

type Env = { Variables: { principal: string } };

export function messagesRoute(deps: MessagesRouteDeps): Hono<Env> {
  const app = new Hono<Env>();

  app.post('/', async (c) => {
    const body = await readJson(c.req.raw);
    const parsed = sendRequestSchema.safeParse(body);
    if (!parsed.success) {
      throw new ProblemError(400, 'invalid-message', 'Invalid message', 'the message does not match the schema', {
        extensions: { errors: describeIssues(parsed.error) },
      });
    }
    if (parsed.data.template) {
      throw new ProblemError(
        400,
        'invalid-message',
        'Invalid message',
        `template ${parsed.data.template.id} does not exist`,
        {
          extensions: { errors: [{ path: 'template.id', message: 'no template with this id' }] },
        },
      );
    }
    const tenant = c.get('principal');
    const result = await deps.messages.accept(tenant, parsed.data);
    if (!result.created) return c.json({ id: result.id, status: 'accepted', duplicate: true }, 200);
    deps.deliver({ id: result.id, channel: parsed.data.channel, tenant, recipientId: parsed.data.to.id });
    c.header('Location', `/v1/messages/${result.id}`);
    return c.json({ id: result.id, status: 'accepted' }, 202);
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
