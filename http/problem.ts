// RFC 9457 problem documents: every error the HTTP API returns is one of these.
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export type ProblemDocument = {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail?: string;
  readonly instance?: string;
  readonly [extension: string]: unknown;
};

const TYPE_BASE = 'https://switchboard.dev/problems/';

/** An error that becomes a problem document with its status; thrown from handlers and middleware. */
export class ProblemError extends Error {
  readonly status: ContentfulStatusCode;
  readonly slug: string;
  readonly title: string;
  readonly extensions: Record<string, unknown>;
  readonly headers: Record<string, string>;
  constructor(
    status: ContentfulStatusCode,
    slug: string,
    title: string,
    detail?: string,
    options: { extensions?: Record<string, unknown>; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(detail ?? title, { cause: options.cause });
    this.name = 'ProblemError';
    this.status = status;
    this.slug = slug;
    this.title = title;
    this.extensions = options.extensions ?? {};
    this.headers = options.headers ?? {};
  }

  toDocument(instance: string): ProblemDocument {
    return {
      type: `${TYPE_BASE}${this.slug}`,
      title: this.title,
      status: this.status,
      detail: this.message,
      instance,
      ...this.extensions,
    };
  }
}

export function problemResponse(c: Context, problem: ProblemError): Response {
  return c.body(JSON.stringify(problem.toDocument(c.req.path)), problem.status, {
    'content-type': PROBLEM_CONTENT_TYPE,
    ...problem.headers,
  });
}
