// What amqplib throws or emits (a reply code from the broker's close frame, a socket error code),
// translated once at the adapter boundary into one error class an operator can read.

/** AMQP 0-9-1 reply codes a broker closes a channel or connection with. */
const REPLY_CODES: Readonly<Record<number, string>> = {
  311: 'CONTENT_TOO_LARGE',
  312: 'NO_ROUTE',
  313: 'NO_CONSUMERS',
  320: 'CONNECTION_FORCED',
  402: 'INVALID_PATH',
  403: 'ACCESS_REFUSED',
  404: 'NOT_FOUND',
  405: 'RESOURCE_LOCKED',
  406: 'PRECONDITION_FAILED',
  501: 'FRAME_ERROR',
  502: 'SYNTAX_ERROR',
  503: 'COMMAND_INVALID',
  504: 'CHANNEL_ERROR',
  505: 'UNEXPECTED_FRAME',
  506: 'RESOURCE_ERROR',
  530: 'NOT_ALLOWED',
  540: 'NOT_IMPLEMENTED',
  541: 'INTERNAL_ERROR',
};

/**
 * Codes after which the same operation can succeed later without anyone changing configuration:
 * the broker restarting or out of resources, the network failing. The others (a refused login, a
 * queue declared with other arguments) need an operator; the bridge still retries with backoff.
 */
const RETRIABLE: ReadonlySet<string> = new Set([
  'CONNECTION_FORCED',
  'RESOURCE_ERROR',
  'INTERNAL_ERROR',
  'CHANNEL_CLOSED',
  'CONNECTION_CLOSED',
  'CONSUMER_CANCELLED',
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'HEARTBEAT_TIMEOUT',
]);

/** A broker or transport failure of the RabbitMQ bridge, with where it happened. */
export class AmqpError extends Error {
  /** A reply code name (`CONNECTION_FORCED`), a socket code (`ECONNREFUSED`) or one of ours (`CHANNEL_CLOSED`). */
  readonly code: string;
  /** The AMQP reply code, when the broker sent one. */
  readonly replyCode: number | undefined;
  /** `connection`, or the queue whose channel failed. */
  readonly where: string;
  readonly retriable: boolean;

  constructor(message: string, fields: { code: string; where: string; replyCode?: number; cause?: unknown }) {
    super(`${fields.where}: ${message}`, { cause: fields.cause });
    this.name = 'AmqpError';
    this.code = fields.code;
    this.replyCode = fields.replyCode;
    this.where = fields.where;
    this.retriable = RETRIABLE.has(fields.code);
  }
}

/** Translates whatever amqplib produced into an AmqpError (an AmqpError passes through). */
export function translateAmqpError(error: unknown, where: string): AmqpError {
  if (error instanceof AmqpError) return error;
  const { code, message } = (typeof error === 'object' && error !== null ? error : {}) as {
    code?: unknown;
    message?: unknown;
  };
  const text = typeof message === 'string' ? message : String(error);
  if (typeof code === 'number') {
    return new AmqpError(text, { code: REPLY_CODES[code] ?? `REPLY_${code}`, replyCode: code, where, cause: error });
  }
  if (typeof code === 'string') return new AmqpError(text, { code, where, cause: error });
  if (/heartbeat timeout/i.test(text)) return new AmqpError(text, { code: 'HEARTBEAT_TIMEOUT', where, cause: error });
  if (/channel (closed|ended)/i.test(text)) return new AmqpError(text, { code: 'CHANNEL_CLOSED', where, cause: error });
  if (/connection closed/i.test(text)) return new AmqpError(text, { code: 'CONNECTION_CLOSED', where, cause: error });
  return new AmqpError(text, { code: 'UNKNOWN', where, cause: error });
}
