// The sends bench:ingest writes and posts: a typical transactional email, recipients cycling over
// RECIPIENTS ids, no idempotency key (so every send is a new message). Posted sends carry a token that
// the load generators make unique per request: repeated content to a recipient would be suppressed by
// content dedupe and make the delivery running alongside look cheaper than it is.
import { type SendRequest, sendRequestSchema } from '../../runtime/messages/sendRequest.ts';

const RECIPIENTS = 10_000;

/** Replaced by a token unique to each request (it is autocannon's idReplacement placeholder). */
export const UNIQUE = '[<id>]';

/** The body of `POST /v1/messages` for send number `i`; `token` goes into the subject. */
export const sendBody = (i: number, token = '') => ({
  channel: 'email',
  to: { id: `u-${i % RECIPIENTS}`, email: `u${i % RECIPIENTS}@example.com` },
  content: { subject: `Your receipt #${i}${token}`, text: `Thanks for your order #${i}. It ships tomorrow.` },
});

/** Parsed sends, as the in-process API takes them. */
export const parsedSends: readonly SendRequest[] = Array.from({ length: RECIPIENTS }, (_, i) =>
  sendRequestSchema.parse(sendBody(i)),
);

/** `count` consecutive parsed sends starting at `from`, wrapping around. */
export const sendsFrom = (from: number, count: number): SendRequest[] =>
  Array.from({ length: count }, (_, k) => parsedSends[(from + k) % parsedSends.length] as SendRequest);

/** Bodies for single POSTs, with UNIQUE in the subject: 100 recipients, used in turn by every connection. */
export const singleBodies: readonly string[] = Array.from({ length: 100 }, (_, i) =>
  JSON.stringify(sendBody(i * 97, ` ${UNIQUE}`)),
);

/** `{ messages: [...] }` bodies of each size (two of each, different recipients), UNIQUE in every subject. */
export function batchBodies(sizes: readonly number[]): Array<{ json: string; count: number }> {
  return sizes.flatMap((size, k) =>
    [0, 1].map((half) => ({
      json: JSON.stringify({
        messages: Array.from({ length: size }, (_, i) => sendBody((2 * k + half) * 1_000 + i, ` ${UNIQUE}`)),
      }),
      count: size,
    })),
  );
}

/** A prefix for the tokens of one load, so that two loads on the same service never repeat a token. */
export const tokenPrefix = () => Math.random().toString(36).slice(2, 8);
