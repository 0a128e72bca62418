// Bearer-token authentication that answers 401 with a problem document. `resolve` maps a presented
// token to the principal it stands for (a tenant), or null.
import { timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { ProblemError } from '../../problem.ts';

export type BearerAuthOptions<P> = {
  readonly realm: string;
  readonly resolve: (token: string) => Promise<P | null> | P | null;
  /** Detail for the 401 when no credentials can be accepted at all (e.g. the API is switched off). */
  readonly disabledReason?: string;
};

export function bearerAuth<P>(options: BearerAuthOptions<P>): MiddlewareHandler<{ Variables: { principal: P } }> {
  const challenge = { 'WWW-Authenticate': `Bearer realm="${options.realm}"` };
  return async (c, next) => {
    if (options.disabledReason)
      throw new ProblemError(401, 'unauthorized', 'Unauthorized', options.disabledReason, {
        headers: challenge,
      });
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match?.[1]) {
      throw new ProblemError(401, 'unauthorized', 'Unauthorized', 'send Authorization: Bearer <key>', {
        headers: challenge,
      });
    }
    const principal = await options.resolve(match[1]);
    if (principal === null)
      throw new ProblemError(401, 'unauthorized', 'Unauthorized', 'the key is not valid', {
        headers: challenge,
      });
    c.set('principal', principal);
    await next();
  };
}

/** Compares a presented token with the expected one in constant time. */
export function tokenMatches(presented: string, expected: string): boolean {
  const a = Buffer.from(presented);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
