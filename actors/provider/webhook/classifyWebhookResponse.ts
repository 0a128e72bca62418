// Translates a webhook receiver's answer, or the failure to get one, into success or a
// ProviderError, once, at the adapter boundary.
import { ProviderError } from '../Provider.ts';

export type WebhookAnswer = {
  readonly status: number;
  /** Only `retry-after` and `location` are read. */
  readonly headers: { get(name: string): string | null };
};

export type WebhookVerdict = { readonly ok: true } | { readonly ok: false; readonly error: ProviderError };

export type ClassifyContext = {
  /** Provider name for the error; default `webhook`. */
  readonly provider?: string;
  /** Current time in ms, to turn an HTTP-date `Retry-After` into a delay. */
  readonly now: number;
  /** A snippet of the answer's body, for the operator. */
  readonly detail?: string | undefined;
};

/**
 * 2xx is delivered. 429, 408 and 5xx are transient and carry `Retry-After` as `retryAfterMs`;
 * 3xx is permanent (redirects are refused: following one would send a signed body to a URL the
 * sender never named); other 4xx are permanent.
 * @example classifyWebhookResponse({ status: 503, headers: new Headers({ 'retry-after': '5' }) }, { now: Date.now() })
 */
export function classifyWebhookResponse(answer: WebhookAnswer, context: ClassifyContext): WebhookVerdict {
  const { status } = answer;
  if (status >= 200 && status < 300) return { ok: true };
  const provider = context.provider ?? 'webhook';
  const code = String(status);
  const detail = context.detail ? `: ${context.detail}` : '';
  if (status >= 300 && status < 400) {
    const location = answer.headers.get('location');
    const target = location ? ` to ${location}` : '';
    return {
      ok: false,
      error: new ProviderError(provider, `webhook answered ${status}, a redirect${target}; redirects are refused`, {
        retriable: false,
        code,
      }),
    };
  }
  // 408 is the receiver saying it gave up waiting for us: the same request may well succeed next time.
  const retriable = status === 429 || status === 408 || status >= 500;
  const retryAfterMs = retriable ? parseRetryAfter(answer.headers.get('retry-after'), context.now) : undefined;
  return {
    ok: false,
    error: new ProviderError(provider, `webhook answered ${status}${detail}`, { retriable, code, retryAfterMs }),
  };
}

/**
 * `Retry-After` as milliseconds from `now`: delta-seconds or an HTTP date (a date in the past is 0).
 * Undefined when absent or unreadable.
 * @example parseRetryAfter('120', Date.now()) // 120000
 */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  // RFC 9110 dates always name the weekday and the month; a bare number or junk is not one.
  if (!/[a-z]{3}/i.test(trimmed)) return undefined;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

const PERMANENT_REQUEST_CODES: ReadonlySet<string> = new Set(['ERR_INVALID_URL', 'ERR_INVALID_ARG_TYPE']);

/**
 * A request that got no answer: timeouts, refused or reset connections, DNS trouble are transient.
 * Node's fetch reports network trouble as `TypeError('fetch failed')` with the socket error as
 * its `cause`, and a timeout as a `TimeoutError` from the AbortSignal.
 */
export function classifyWebhookError(error: unknown, provider = 'webhook'): ProviderError {
  if (error instanceof ProviderError) return error;
  const name = error instanceof Error ? error.name : undefined;
  if (name === 'TimeoutError') {
    return new ProviderError(provider, 'webhook did not answer in time', {
      retriable: true,
      code: 'ETIMEDOUT',
      cause: error,
    });
  }
  if (name === 'AbortError') {
    return new ProviderError(provider, 'webhook request aborted', { retriable: true, code: 'EABORTED', cause: error });
  }
  const root = rootCause(error);
  const code = errorCode(root) ?? errorCode(error);
  const text = root instanceof Error ? root.message : String(root);
  const retriable = code === undefined || !PERMANENT_REQUEST_CODES.has(code);
  return new ProviderError(provider, `webhook unreachable: ${text}`, { retriable, code, cause: error });
}

function rootCause(error: unknown): unknown {
  let current = error;
  for (let depth = 0; depth < 5 && current instanceof Error && current.cause !== undefined; depth++) {
    current = current.cause;
  }
  return current;
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}
