#!/usr/bin/env node
// The switchboard CLI: `serve` runs the service, `migrate` brings the schema up to date.
import { parseArgs } from 'node:util';
import { type Config, ConfigError, loadConfig } from '../runtime/config/loadConfig.ts';
import { createLogger } from '../runtime/logging/createLogger.ts';
import { migrate } from '../runtime/persistence/migrate.ts';
import { openDatabase } from '../runtime/persistence/openDatabase.ts';
import { StoreUnavailableError } from '../runtime/persistence/StoreError.ts';
import { Switchboard } from '../runtime/service/Switchboard.ts';

const USAGE = `usage: switchboard <command>

commands:
  serve     run the service (HTTP on PORT, default 8080)
  migrate   apply database migrations and exit
  help      show this text

Configuration comes from the environment; see README.md.`;

/** One readable line on standard error, then exit: no stack trace for a problem the user can fix. */
function fail(message: string, code: number): never {
  process.stderr.write(`switchboard: ${message}\n`);
  process.exit(code);
}

function config(): Config {
  try {
    return loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) fail(`invalid configuration: ${error.message}`, 2);
    throw error;
  }
}

async function serve(): Promise<void> {
  const cfg = config();
  const logger = createLogger({ level: cfg.logLevel });
  let service: Switchboard;
  try {
    service = await Switchboard.start({ config: cfg, logger });
  } catch (error) {
    if (error instanceof StoreUnavailableError) fail(error.message, 1);
    const reason = error instanceof Error ? error.message : String(error);
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE')
      fail(`port ${cfg.port} is in use; set PORT to a free port`, 1);
    logger.fatal({ err: error }, 'start-up failed');
    fail(`start-up failed: ${reason}`, 1);
  }
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    service.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

async function runMigrate(): Promise<void> {
  const cfg = config();
  try {
    const database = await openDatabase({ databaseUrl: cfg.databaseUrl, dataDir: cfg.dataDir });
    try {
      const result = await migrate(database.pool);
      process.stdout.write(
        result.applied.length > 0
          ? `applied ${result.applied.length} migration(s): ${result.applied.join(', ')}\n`
          : `schema up to date (${result.alreadyApplied} migration(s) applied before)\n`,
      );
    } finally {
      await database.close();
    }
  } catch (error) {
    if (error instanceof StoreUnavailableError) fail(error.message, 1);
    fail(`migration failed: ${error instanceof Error ? error.message : String(error)}`, 1);
  }
}

const { positionals } = parseArgs({ allowPositionals: true, strict: false });
const command = positionals[0] ?? 'help';
switch (command) {
  case 'serve':
    await serve();
    break;
  case 'migrate':
    await runMigrate();
    break;
  case 'help':
  case '--help':
    process.stdout.write(`${USAGE}\n`);
    break;
  default:
    fail(`unknown command ${JSON.stringify(command)}\n${USAGE}`, 2);
}
