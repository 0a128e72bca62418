// Environment → validated options with defaults → a frozen, typed config object, in one place.
import path from 'node:path';
import { z } from 'zod';
import type { RecipientPolicy } from '../policy/decidePolicy.ts';
import { parseFrequencyCaps } from '../policy/frequencyCap.ts';
import { formatQuietHours, isTimeZone, parseQuietHours } from '../policy/quietHours.ts';
import { longDuration } from '../policy/contentDedupe.ts';
import { type ProvidersByChannel, parseProviders } from './providerConfig.ts';

/** A configuration value that cannot be used; its message is one line naming the variable. */
export class ConfigError extends Error {
  readonly variable: string;
  constructor(variable: string, expected: string, received: string | undefined) {
    super(`${variable}: expected ${expected}${received === undefined ? '' : `, got ${JSON.stringify(received)}`}`);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

const emptyAsUndefined = (value: unknown) => (typeof value === 'string' && value.trim() === '' ? undefined : value);

const urlWithProtocols = (protocols: readonly string[]) =>
  z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .refine((value) => URL.canParse(value) && protocols.includes(new URL(value).protocol), {
        message: `a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`,
      })
      .optional(),
  );

const commaList = z.preprocess(
  (value) =>
    typeof value === 'string'
      ? value
          .split(',')
          .map((item) => item.trim())
          .filter((item) => item !== '')
      : [],
  z.array(z.string()),
);

const positiveInt = (message: string, fallback: number) =>
  z.preprocess(emptyAsUndefined, z.coerce.number({ message }).int({ message }).positive({ message }).default(fallback));

const environmentSchema = z.object({
  PORT: z.preprocess(
    emptyAsUndefined,
    z.coerce
      .number({ message: 'a TCP port number between 0 and 65535' })
      .int({ message: 'a TCP port number between 0 and 65535' })
      .min(0, { message: 'a TCP port number between 0 and 65535' })
      .max(65535, { message: 'a TCP port number between 0 and 65535' })
      .default(8080),
  ),
  DATABASE_URL: urlWithProtocols(['postgres:', 'postgresql:']),
  KAFKA_BROKERS: commaList.pipe(
    z.array(z.string().regex(/^[^\s:,]+:\d{1,5}$/, { message: 'a comma-separated list of host:port brokers' })),
  ),
  AMQP_URL: urlWithProtocols(['amqp:', 'amqps:']),
  SMTP_URL: urlWithProtocols(['smtp:', 'smtps:']),
  AWS_REGION: z.preprocess(emptyAsUndefined, z.string().optional()),
  AWS_ENDPOINT_URL_S3: urlWithProtocols(['http:', 'https:']),
  AWS_ENDPOINT_URL_SNS: urlWithProtocols(['http:', 'https:']),
  SWITCHBOARD_DATA_DIR: z.preprocess(emptyAsUndefined, z.string().default('./.switchboard')),
  SWITCHBOARD_API_KEYS: commaList.pipe(
    z.array(z.string().min(16, { message: 'a comma-separated list of API keys of 16 or more characters' })),
  ),
  SWITCHBOARD_OPERATOR_TOKEN: z.preprocess(
    emptyAsUndefined,
    z.string().min(16, { message: 'a token of 16 or more characters' }).optional(),
  ),
  SWITCHBOARD_EMAIL_FROM: z.preprocess(emptyAsUndefined, z.string().min(3).default('switchboard <no-reply@localhost>')),
  SWITCHBOARD_MAX_BATCH_BODY_BYTES: positiveInt('a positive number of bytes', 16_777_216),
  SWITCHBOARD_BACKLOG_SWEEP_MS: positiveInt('a positive number of milliseconds', 5_000),
  SWITCHBOARD_BACKLOG_AGE_MS: positiveInt('a positive number of milliseconds', 30_000),
  SWITCHBOARD_CAMPAIGN_SNAPSHOT_EVERY: positiveInt('a positive number of recipients', 5_000),
  SWITCHBOARD_CAMPAIGN_MAX_BACKLOG: positiveInt('a positive number of messages', 5_000),
  SWITCHBOARD_PROVIDERS: z.preprocess(emptyAsUndefined, z.string().optional()),
  SWITCHBOARD_WEBHOOK_SECRET: z.preprocess(
    emptyAsUndefined,
    z.string().min(16, { message: 'a secret of 16 or more characters' }).optional(),
  ),
  SWITCHBOARD_CHANNEL_QUEUE_CAPACITY: positiveInt('a positive number of messages', 10_000),
  SWITCHBOARD_CHANNEL_BACKLOG_LIMIT: positiveInt('a positive number of messages', 100_000),
  SWITCHBOARD_RECIPIENT_SHARDS: positiveInt('a whole number of shards from 1 to 256', 16).pipe(
    z.number().max(256, { message: 'a whole number of shards from 1 to 256' }),
  ),
  SWITCHBOARD_RECIPIENT_IDLE_MS: positiveInt('a positive number of milliseconds', 300_000),
  SWITCHBOARD_RECIPIENT_MAX_LIVE: positiveInt('a positive number of recipients', 20_000),
  SWITCHBOARD_SHUTDOWN_GRACE_MS: positiveInt('a positive number of milliseconds', 10_000),
  SWITCHBOARD_FREQUENCY_CAPS: z.preprocess(emptyAsUndefined, z.string().optional()),
  SWITCHBOARD_DEDUPE_WINDOW_MS: z.preprocess(
    emptyAsUndefined,
    z.coerce
      .number({ message: 'a number of milliseconds (0 turns dedupe off)' })
      .int({ message: 'a number of milliseconds (0 turns dedupe off)' })
      .min(0, { message: 'a number of milliseconds (0 turns dedupe off)' })
      .default(600_000),
  ),
  SWITCHBOARD_QUIET_HOURS: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .refine((value) => parseQuietHours(value) !== null, {
        message: 'a daily window HH:MM-HH:MM of local time, like 21:00-08:00 (start and end differ)',
      })
      .optional(),
  ),
  SWITCHBOARD_DEFAULT_TIME_ZONE: z.preprocess(
    emptyAsUndefined,
    z.string().refine(isTimeZone, { message: 'an IANA time zone name, like Europe/London' }).default('UTC'),
  ),
  SWITCHBOARD_LOG_LEVEL: z.preprocess(
    emptyAsUndefined,
    z
      .enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], {
        message: 'one of trace, debug, info, warn, error, fatal, silent',
      })
      .default('info'),
  ),
  SWITCHBOARD_MAX_BODY_BYTES: z.preprocess(
    emptyAsUndefined,
    z.coerce
      .number({ message: 'a positive number of bytes' })
      .int({ message: 'a positive number of bytes' })
      .positive({ message: 'a positive number of bytes' })
      .default(1_048_576),
  ),
});

export type Config = {
  readonly port: number;
  readonly dataDir: string;
  readonly logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
  readonly maxBodyBytes: number;
  /** Largest body of `POST /v1/messages/batch`. */
  readonly maxBatchBodyBytes: number;
  readonly recipients: { readonly shards: number; readonly idleMs: number; readonly maxLive: number };
  /** Accepted or queued messages untouched for `ageMs` are routed again, checked every `sweepEveryMs`. */
  readonly backlog: { readonly sweepEveryMs: number; readonly ageMs: number };
  /** A campaign saves its audience cursor and counts after this many recipients (and on pause and at the end). */
  readonly campaigns: {
    readonly snapshotEvery: number;
    /** A campaign reads on only while its channel has fewer unfinished sends than this. */
    readonly maxBacklog: number;
  };
  /** Providers of each channel in failover order. */
  readonly providers: ProvidersByChannel;
  readonly channels: {
    /** Messages a channel holds in memory; the rest wait in PostgreSQL. */
    readonly queueCapacity: number;
    /** Durable backlog above which a channel's sources are pushed back (HTTP 429). */
    readonly backlogLimit: number;
  };
  /** How long a stop waits for in-flight work before it forces. */
  readonly shutdownGraceMs: number;
  /** Per-recipient policy: frequency caps, content dedupe, quiet hours. */
  readonly policy: RecipientPolicy;
  /** `undefined` selects the embedded PGlite store in the data directory. */
  readonly databaseUrl: string | undefined;
  readonly kafkaBrokers: readonly string[];
  readonly amqpUrl: string | undefined;
  readonly smtpUrl: string | undefined;
  /** The From address of every email. */
  readonly emailFrom: string;
  readonly aws: {
    readonly region: string | undefined;
    readonly s3Endpoint: string | undefined;
    readonly snsEndpoint: string | undefined;
  };
  readonly apiKeys: readonly string[];
  readonly operatorToken: string | undefined;
};

/**
 * Parses the process environment into a frozen {@link Config}.
 * @throws {ConfigError} naming the first variable that is wrong and what it expects.
 */
export function loadConfig(env: NodeJS.ProcessEnv, cwd: string = process.cwd()): Config {
  const parsed = environmentSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const variable = String(issue?.path[0] ?? 'environment');
    throw new ConfigError(variable, issue?.message ?? 'a valid value', env[variable]);
  }
  const e = parsed.data;
  const providers = parseProviders(e.SWITCHBOARD_PROVIDERS, {
    smtpUrl: e.SMTP_URL,
    sns: e.AWS_REGION !== undefined || e.AWS_ENDPOINT_URL_SNS !== undefined,
    webhookSecret: e.SWITCHBOARD_WEBHOOK_SECRET,
  });
  if (!providers.ok) throw new ConfigError('SWITCHBOARD_PROVIDERS', providers.message, undefined);
  const caps = parseFrequencyCaps(e.SWITCHBOARD_FREQUENCY_CAPS);
  if (!caps.ok) throw new ConfigError('SWITCHBOARD_FREQUENCY_CAPS', caps.message, undefined);
  return Object.freeze({
    port: e.PORT,
    dataDir: path.resolve(cwd, e.SWITCHBOARD_DATA_DIR),
    logLevel: e.SWITCHBOARD_LOG_LEVEL,
    maxBodyBytes: e.SWITCHBOARD_MAX_BODY_BYTES,
    maxBatchBodyBytes: e.SWITCHBOARD_MAX_BATCH_BODY_BYTES,
    recipients: Object.freeze({
      shards: e.SWITCHBOARD_RECIPIENT_SHARDS,
      idleMs: e.SWITCHBOARD_RECIPIENT_IDLE_MS,
      maxLive: e.SWITCHBOARD_RECIPIENT_MAX_LIVE,
    }),
    shutdownGraceMs: e.SWITCHBOARD_SHUTDOWN_GRACE_MS,
    policy: Object.freeze({
      frequencyCaps: caps.caps,
      dedupeWindowMs: e.SWITCHBOARD_DEDUPE_WINDOW_MS,
      quietHours: e.SWITCHBOARD_QUIET_HOURS === undefined ? null : parseQuietHours(e.SWITCHBOARD_QUIET_HOURS),
      defaultTimeZone: e.SWITCHBOARD_DEFAULT_TIME_ZONE,
    }),
    providers: providers.providers,
    channels: Object.freeze({
      queueCapacity: e.SWITCHBOARD_CHANNEL_QUEUE_CAPACITY,
      backlogLimit: e.SWITCHBOARD_CHANNEL_BACKLOG_LIMIT,
    }),
    backlog: Object.freeze({ sweepEveryMs: e.SWITCHBOARD_BACKLOG_SWEEP_MS, ageMs: e.SWITCHBOARD_BACKLOG_AGE_MS }),
    campaigns: Object.freeze({
      snapshotEvery: e.SWITCHBOARD_CAMPAIGN_SNAPSHOT_EVERY,
      maxBacklog: e.SWITCHBOARD_CAMPAIGN_MAX_BACKLOG,
    }),
    databaseUrl: e.DATABASE_URL,
    kafkaBrokers: Object.freeze([...e.KAFKA_BROKERS]),
    amqpUrl: e.AMQP_URL,
    smtpUrl: e.SMTP_URL,
    emailFrom: e.SWITCHBOARD_EMAIL_FROM,
    aws: Object.freeze({
      region: e.AWS_REGION,
      s3Endpoint: e.AWS_ENDPOINT_URL_S3,
      snsEndpoint: e.AWS_ENDPOINT_URL_SNS,
    }),
    apiKeys: Object.freeze([...e.SWITCHBOARD_API_KEYS]),
    operatorToken: e.SWITCHBOARD_OPERATOR_TOKEN,
  });
}

/** One line per part: which are on, which are off, which embedded defaults stand in. */
export function describeConfig(config: Config): Record<string, string> {
  return {
    http: `on, port ${config.port}`,
    store: config.databaseUrl ? 'postgresql (DATABASE_URL)' : `embedded PGlite in ${config.dataDir}/pgdata`,
    ...Object.fromEntries(
      Object.entries(config.providers).map(([channel, specs]) => [
        channel,
        specs
          .map((spec) =>
            spec.type === 'dev-outbox' ? `dev outbox in ${config.dataDir}/outbox` : `${spec.name} (${spec.type})`,
          )
          .join(' → '),
      ]),
    ),
    kafka:
      config.kafkaBrokers.length > 0 ? `configured (${config.kafkaBrokers.join(',')})` : 'off (KAFKA_BROKERS unset)',
    rabbitmq: config.amqpUrl ? 'configured (AMQP_URL)' : 'off (AMQP_URL unset)',
    s3: config.aws.s3Endpoint ? 'endpoint AWS_ENDPOINT_URL_S3' : 'AWS default endpoint',
    apiKeys:
      config.apiKeys.length > 0
        ? `${config.apiKeys.length} from SWITCHBOARD_API_KEYS`
        : 'generated key in data directory',
    operatorApi: config.operatorToken ? 'on (SWITCHBOARD_OPERATOR_TOKEN)' : 'off (SWITCHBOARD_OPERATOR_TOKEN unset)',
    policy: describePolicy(config.policy),
  };
}

function describePolicy(policy: RecipientPolicy): string {
  const caps = Object.entries(policy.frequencyCaps).flatMap(([priority, byChannel]) =>
    Object.entries(byChannel ?? {}).map(([channel, cap]) => `${priority} ${channel} ${cap?.max}/${cap?.windowMs}ms`),
  );
  return [
    caps.length > 0 ? `frequency caps ${caps.join(', ')}` : 'no frequency caps',
    policy.dedupeWindowMs > 0 ? `dedupe within ${longDuration(policy.dedupeWindowMs)}` : 'dedupe off',
    policy.quietHours === null
      ? 'no quiet hours'
      : `quiet hours ${formatQuietHours(policy.quietHours)} (default zone ${policy.defaultTimeZone})`,
  ].join('; ');
}
