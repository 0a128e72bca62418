// The headers of the RabbitMQ send contract: the tenant a publisher sends for, and what a dead letter
// carries (the reason, the queue it left, the original properties and headers).
import type { Message, Options } from 'amqplib';

/** The tenant a send is for; without it, the bridge's default tenant. */
export const TENANT_HEADER = 'x-switchboard-tenant';
/** Why a delivery was dead-lettered. */
export const REASON_HEADER = 'x-switchboard-reason';
/** The queue a dead letter was taken from. */
export const QUEUE_HEADER = 'x-switchboard-queue';
/** Ties a dead letter's publish to a `basic.return` when no queue took it. */
export const DEAD_LETTER_ID_HEADER = 'x-switchboard-dead-letter-id';

/** Longest reason kept in a header: AMQP header tables are bounded (64 KiB in amqplib). */
const MAX_REASON = 1_000;
const MAX_TENANT = 256;

export type TenantHeader =
  { readonly ok: true; readonly tenant: string } | { readonly ok: false; readonly reason: string };

/** The tenant named by a delivery's headers, `fallback` when none is named, or why the header is unusable. */
export function tenantOf(message: Pick<Message, 'properties'>, fallback: string): TenantHeader {
  const headers: Readonly<Record<string, unknown>> | undefined = message.properties.headers;
  const value = headers?.[TENANT_HEADER];
  if (value === undefined || value === null) return { ok: true, tenant: fallback };
  const problem = tenantProblem(value);
  return problem === undefined
    ? { ok: true, tenant: value as string }
    : { ok: false, reason: `${TENANT_HEADER}: ${problem}` };
}

/** Why `value` cannot be a tenant, or undefined when it can. */
export function tenantProblem(value: unknown): string | undefined {
  // Tenants are part of recipient keys (`tenant:recipient`), so a colon would make keys ambiguous.
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_TENANT || value.includes(':'))
    return `a tenant is a string of 1 to ${MAX_TENANT} characters without ':'`;
  return undefined;
}

/**
 * Publish options for the dead letter of `message`: its properties and headers as they were, plus the
 * reason and source queue. The user id is dropped (the broker refuses one that is not ours) and so is
 * the expiration (a dead letter must wait for an operator, not expire).
 */
export function deadLetterOptions(
  message: Pick<Message, 'properties'>,
  fields: { readonly reason: string; readonly queue: string; readonly id: string },
): Options.Publish {
  const properties: Readonly<Record<string, unknown>> = { ...message.properties };
  const headers = (properties.headers ?? {}) as Readonly<Record<string, unknown>>;
  const options: Options.Publish = {
    persistent: true,
    mandatory: true,
    headers: {
      ...headers,
      [REASON_HEADER]: fields.reason.length > MAX_REASON ? `${fields.reason.slice(0, MAX_REASON - 1)}…` : fields.reason,
      [QUEUE_HEADER]: fields.queue,
      [DEAD_LETTER_ID_HEADER]: fields.id,
    },
  };
  for (const key of ['contentType', 'contentEncoding', 'correlationId', 'replyTo', 'messageId', 'type', 'appId']) {
    const value = properties[key];
    if (typeof value === 'string') Object.assign(options, { [key]: value });
  }
  if (typeof properties.priority === 'number') options.priority = properties.priority;
  if (typeof properties.timestamp === 'number') options.timestamp = properties.timestamp;
  return options;
}
