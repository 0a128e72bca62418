// One structured log line per request, with method, route, status and duration; never the body.
import type { MiddlewareHandler } from 'hono';
import type { Logger } from '../../../runtime/logging/createLogger.ts';

/** Where request counts go; the route pattern (not the raw path) keeps label sets small. */
export type RequestCounter = { recordRequest(method: string, route: string, status: number): void };

export function requestLog(
  logger: Logger,
  counter?: RequestCounter,
  now: () => number = performance.now.bind(performance),
): MiddlewareHandler {
  return async (c, next) => {
    const started = now();
    await next();
    const status = c.res.status;
    counter?.recordRequest(c.req.method, c.req.routePath, status);
    const line = {
      method: c.req.method,
      path: c.req.path,
      status,
      ms: Math.round((now() - started) * 10) / 10,
    };
    if (status >= 500) logger.error(line, 'request failed');
    else if (status >= 400) logger.info(line, 'request refused');
    else logger.debug(line, 'request');
  };
}
