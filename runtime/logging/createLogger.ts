// Structured JSON logs (pino) with personal data masked and credentials redacted before they are written.
import { type DestinationStream, type Logger, pino } from 'pino';
import { maskPersonalData, maskText } from './maskPersonalData.ts';

export type { Logger };

export type LoggerOptions = {
  readonly level: string;
  /** Where lines go; standard output when omitted. */
  readonly destination?: DestinationStream;
};

/** Creates the process logger. Every object and message passes through {@link maskPersonalData}. */
export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      base: { service: 'switchboard' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: [
          'authorization',
          '*.authorization',
          'headers.authorization',
          'apiKey',
          '*.apiKey',
          'token',
          '*.token',
          'password',
          '*.password',
        ],
        censor: '[redacted]',
      },
      formatters: {
        level: (label) => ({ level: label }),
        log: (object) => maskPersonalData(object) as Record<string, unknown>,
      },
      hooks: {
        logMethod(args, method) {
          const masked = args.map((arg) => (typeof arg === 'string' ? maskText(arg) : arg));
          method.apply(this, masked as Parameters<typeof method>);
        },
      },
      serializers: { err: (error: unknown) => maskPersonalData(error) },
    },
    options.destination,
  );
}
