// The content hash of a send, computed at acceptance: two sends with the same hash would put the same
// thing in front of the recipient at the same address, which is what content dedupe looks for.
import { createHash } from 'node:crypto';
import type { SendRequest } from '../messages/sendRequest.ts';

const ADDRESS_FIELD = { email: 'email', sms: 'phone', push: 'pushTarget', webhook: 'url' } as const;

/** JSON with object keys sorted at every level, so equal values always serialize alike. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * sha256 (hex) of the channel, the channel's address (one recipient's two devices or two webhook
 * endpoints are not duplicates of each other), and the content, or the template id with its variables.
 */
export function contentHash(request: SendRequest): string {
  const body = request.template
    ? { template: { id: request.template.id, vars: request.template.vars ?? {} } }
    : { content: request.content ?? {} };
  return createHash('sha256')
    .update(canonicalJson([request.channel, request.to[ADDRESS_FIELD[request.channel]] ?? null, body]))
    .digest('hex');
}
