// Errors of the message store, translated from slonik and PostgreSQL at the driver boundary.

/** The store could not be reached or failed mid-operation; callers answer 503 and retry later. */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
]);

/** True when an error means the database is down or unreachable rather than that a query was wrong. */
export function isUnavailable(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 6; depth++) {
    if (typeof e !== 'object') return false;
    const { name, code, message } = e as { name?: unknown; code?: unknown; message?: unknown };
    if (
      name === 'ConnectionError' ||
      name === 'BackendTerminatedError' ||
      name === 'BackendTerminatedUnexpectedlyError'
    )
      return true;
    if (typeof code === 'string' && (UNAVAILABLE_CODES.has(code) || code.startsWith('57P') || code.startsWith('08')))
      return true;
    if (
      typeof message === 'string' &&
      /Connection terminated|connect ECONNREFUSED|timeout exceeded when trying to connect/i.test(message)
    )
      return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** Wraps a driver error so that callers see either a StoreUnavailableError or the original error. */
export function translateStoreError(error: unknown, action: string): unknown {
  if (error instanceof StoreUnavailableError) return error;
  if (isUnavailable(error))
    return new StoreUnavailableError(`store unavailable while trying to ${action}`, { cause: error });
  return error;
}
