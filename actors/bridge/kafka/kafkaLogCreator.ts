// Routes kafkajs's own log lines into the service logger. kafkajs logs at error level for trouble it
// recovers from itself (a rebalance, a broker that went away); what it cannot recover from reaches the
// bridge as a crash and is reported there, so its errors are written as warnings.
import { type logCreator, logLevel } from 'kafkajs';
import type { Logger } from '../../../runtime/logging/createLogger.ts';

/** A kafkajs `logCreator` writing to `logger`; kafkajs's info lines become debug lines. */
export function kafkaLogCreator(logger: Logger): logCreator {
  return () =>
    ({ namespace, level, log }) => {
      const { message, timestamp: _timestamp, logger: _name, ...extra } = log;
      const fields = { kafkajs: namespace, ...extra };
      switch (level) {
        case logLevel.ERROR:
        case logLevel.WARN:
          logger.warn(fields, message);
          return;
        case logLevel.INFO:
          logger.debug(fields, message);
          return;
        default:
          logger.trace(fields, message);
      }
    };
}
