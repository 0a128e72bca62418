// The HMAC-SHA256 signature a webhook carries in X-Switchboard-Signature, made by the provider and
// checked by receivers over the exact body bytes.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'X-Switchboard-Signature';
export const MESSAGE_ID_HEADER = 'X-Switchboard-Message-Id';

const PREFIX = 'sha256=';
const HEX_DIGEST = /^[0-9a-f]{64}$/i;

/**
 * The header value for a body: `sha256=` and the hex HMAC-SHA256 of its bytes under `secret`.
 * @example signBody('{"id":"m1"}', 'shh') // 'sha256=…64 hex digits…'
 */
export function signBody(body: string | Uint8Array, secret: string): string {
  return PREFIX + createHmac('sha256', secret).update(body).digest('hex');
}

/**
 * True when `header` is `sha256=<hex>` and the digest matches the body's HMAC under `secret`,
 * compared in constant time. Pass the raw body as received: re-serialised JSON will not match.
 * @example verifySignature(rawBody, request.headers['x-switchboard-signature'], secret)
 */
export function verifySignature(
  body: string | Uint8Array,
  header: string | readonly string[] | null | undefined,
  secret: string,
): boolean {
  if (typeof header !== 'string' || !header.toLowerCase().startsWith(PREFIX)) return false;
  const given = header.slice(PREFIX.length).trim();
  if (!HEX_DIGEST.test(given)) return false;
  const expected = createHmac('sha256', secret).update(body).digest();
  return timingSafeEqual(Buffer.from(given, 'hex'), expected);
}
