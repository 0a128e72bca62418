// Failures of the Kafka ingest bridge, translated once from kafkajs: the operation that failed, the
// broker's or socket's own code, and whether trying again (a reconnect) can help.

export type KafkaIngestOperation = 'connect' | 'consume' | 'dead-letter' | 'connection';

/** The Kafka ingest bridge could not start, lost its connection, or could not dead-letter a record. */
export class KafkaIngestError extends Error {
  readonly operation: KafkaIngestOperation;
  /** The Kafka error type (`REBALANCE_IN_PROGRESS`), socket code (`ECONNREFUSED`) or kafkajs error name. */
  readonly code: string | undefined;
  /** False when reconnecting cannot help until an operator acts (authorization, a bad topic name). */
  readonly retriable: boolean;

  constructor(operation: KafkaIngestOperation, cause: unknown) {
    const { code, retriable } = describeKafkaError(cause);
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(`kafka ingest ${operation} failed${code ? ` (${code})` : ''}: ${reason}`, { cause });
    this.name = 'KafkaIngestError';
    this.operation = operation;
    this.code = code;
    this.retriable = retriable;
  }
}

const NOT_RETRIABLE = new Set([
  'TOPIC_AUTHORIZATION_FAILED',
  'GROUP_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'INVALID_TOPIC_EXCEPTION',
  'SASL_AUTHENTICATION_FAILED',
  'KafkaJSSASLAuthenticationError',
]);

/** The most specific code in an error's cause chain (kafkajs wraps the broker's answer in retry errors). */
export function describeKafkaError(error: unknown): { code: string | undefined; retriable: boolean } {
  let code: string | undefined;
  for (let e: unknown = error, depth = 0; e && typeof e === 'object' && depth < 8; depth++) {
    const { type, code: socketCode, name } = e as { type?: unknown; code?: unknown; name?: unknown };
    if (typeof type === 'string') code = type;
    else if (typeof socketCode === 'string') code = socketCode;
    else if (code === undefined && typeof name === 'string' && name.startsWith('KafkaJS')) code = name;
    e = (e as { cause?: unknown }).cause ?? (e as { originalError?: unknown }).originalError;
  }
  return { code, retriable: code === undefined || !NOT_RETRIABLE.has(code) };
}
