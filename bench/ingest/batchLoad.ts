// A closed-loop load of `POST /v1/messages/batch`: `concurrency` clients each send a batch, wait for its
// answer and send the next, until the time is up or the service first pushes back (429 items: a channel's
// durable backlog is over its limit); counts the items the service answered as accepted.
import { z } from 'zod';

export type BatchLoadOptions = {
  readonly url: string;
  readonly apiKey: string;
  /** Serialized `{ messages: [...] }` bodies with the number of messages in each, used in turn. */
  readonly bodies: ReadonlyArray<{ readonly json: string; readonly count: number }>;
  /** In each body, replaced by a token unique to the request. */
  readonly unique: string;
  readonly concurrency: number;
  readonly durationMs: number;
};

export type BatchLoadResult = {
  /** Items answered 202 (durably accepted) per second, from the first request to the last answer. */
  readonly itemsPerSecond: number;
  readonly accepted: number;
  readonly requests: number;
  /** How long the load ran: the whole duration, or until the first push-back had been answered. */
  readonly elapsedMs: number;
  /** When the first item was pushed back, from the start; null when none was. */
  readonly pushedBackAfterMs: number | null;
  /** Items answered 429 (their channel's backlog was over its limit). */
  readonly pushedBack: number;
  /** Items answered anything else but 202, and requests not answered 200. */
  readonly failures: number;
};

const batchAnswer = z.object({ accepted: z.number(), pushedBack: z.number().optional() });

export async function batchLoad(options: BatchLoadOptions): Promise<BatchLoadResult> {
  let accepted = 0;
  let requests = 0;
  let pushedBack = 0;
  let pushedBackAt: number | undefined;
  let failures = 0;
  let turn = 0;
  const prefix = Math.random().toString(36).slice(2, 8);
  const started = performance.now();
  const deadline = started + options.durationMs;
  const client = async () => {
    while (performance.now() < deadline && pushedBackAt === undefined) {
      const body = options.bodies[turn % options.bodies.length];
      if (body === undefined) throw new Error('no request bodies');
      const token = `${prefix}-${turn++}`;
      const response = await fetch(options.url, {
        method: 'POST',
        headers: { authorization: `Bearer ${options.apiKey}`, 'content-type': 'application/json' },
        body: body.json.replaceAll(options.unique, token),
      });
      requests++;
      if (response.status !== 200) {
        failures++;
        await response.arrayBuffer();
        continue;
      }
      const answer = batchAnswer.parse(await response.json());
      accepted += answer.accepted;
      const refused = answer.pushedBack ?? 0;
      if (refused > 0) {
        pushedBack += refused;
        pushedBackAt ??= performance.now();
      }
      failures += body.count - answer.accepted - refused;
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, client));
  const elapsedMs = performance.now() - started;
  return {
    itemsPerSecond: accepted / (elapsedMs / 1000),
    accepted,
    requests,
    elapsedMs,
    pushedBackAfterMs: pushedBackAt === undefined ? null : pushedBackAt - started,
    pushedBack,
    failures,
  };
}
