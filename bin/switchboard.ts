#!/usr/bin/env node
// The switchboard CLI: `serve` runs the service, `migrate` brings the schema up to date, `campaign`
// manages campaigns on a running service over its HTTP API.
import { parseArgs } from 'node:util';
import { type Config, ConfigError, loadConfig } from '../runtime/config/loadConfig.ts';
import { StoreUnavailableError } from '../runtime/persistence/StoreError.ts';
import type { Switchboard } from '../runtime/service/Switchboard.ts';
import { CampaignCliError, runCampaignCommand } from './campaignCommand.ts';

const USAGE = `usage: switchboard <command>

commands:
  serve      run the service (HTTP on PORT, default 8080)
  migrate    apply database migrations and exit
  campaign   create, list, start, pause, resume, cancel, watch campaigns on a running service
             (switchboard campaign help for its commands and options)
  help       show this text

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
  // Loaded here, so the campaign commands do not pay for the whole service at every call.
  const [{ createLogger }, { Switchboard: Service }] = await Promise.all([
    import('../runtime/logging/createLogger.ts'),
    import('../runtime/service/Switchboard.ts'),
  ]);
  const cfg = config();
  const logger = createLogger({ level: cfg.logLevel });
  let service: Switchboard;
  try {
    service = await Service.start({ config: cfg, logger });
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
  const [{ migrate }, { openDatabase }] = await Promise.all([
    import('../runtime/persistence/migrate.ts'),
    import('../runtime/persistence/openDatabase.ts'),
  ]);
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

async function campaign(args: readonly string[]): Promise<void> {
  try {
    process.exitCode = await runCampaignCommand(args, process.env);
  } catch (error) {
    if (error instanceof CampaignCliError) fail(error.message, error.exitCode);
    throw error;
  }
}

const { positionals, tokens } = parseArgs({ allowPositionals: true, strict: false, tokens: true });
const command = positionals[0] ?? 'help';
/** Everything after the command word, for commands with options of their own. */
const commandArgs = process.argv.slice(2 + (tokens.find((token) => token.kind === 'positional')?.index ?? 0) + 1);
switch (command) {
  case 'serve':
    await serve();
    break;
  case 'migrate':
    await runMigrate();
    break;
  case 'campaign':
    await campaign(commandArgs);
    break;
  case 'help':
  case '--help':
    process.stdout.write(`${USAGE}\n`);
    break;
  default:
    fail(`unknown command ${JSON.stringify(command)}\n${USAGE}`, 2);
}
