// The running service: store, migrations, API keys, actor tree and HTTP server, with an explicit
// lifecycle (starting → running → stopping → stopped) and a stop that drains before it forces.
import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import { DEFAULT_RETRY_POLICY } from '../../actors/channel/attemptDelivery.ts';
import { RECIPIENT_STATE_UPGRADES, RECIPIENT_STATE_VERSION } from '../../actors/recipient/RecipientActor.ts';
import { createApp } from '../../http/createApp.ts';
import { type ActorTree, assembleTree } from '../../supervisors/assembleTree.ts';
import { ApiKeyStore } from '../auth/ApiKeyStore.ts';
import { type Config, describeConfig } from '../config/loadConfig.ts';
import type { Logger } from '../logging/createLogger.ts';
import { MessageStore } from '../messages/MessageStore.ts';
import { createMetrics, type Metrics } from '../metrics/createMetrics.ts';
import { migrate } from '../persistence/migrate.ts';
import { type Database, openDatabase } from '../persistence/openDatabase.ts';
import { SnapshotStore } from '../persistence/SnapshotStore.ts';
import { SuppressionStore } from '../policy/SuppressionStore.ts';
import { TemplateStore } from '../templates/TemplateStore.ts';
import { BacklogSweeper } from './BacklogSweeper.ts';
import { SendIntake } from '../../actors/bridge/SendIntake.ts';
import { assembleBridges } from '../../supervisors/assembleBridges.ts';
import { Scheduler } from './Scheduler.ts';
import { AudienceReader, createS3Client } from '../../actors/campaign/audience/openAudience.ts';
import { Campaigns } from '../../actors/campaign/Campaigns.ts';
import { CampaignStore } from '../../actors/campaign/CampaignStore.ts';
import { type Clock, systemClock } from '../time/Clock.ts';

export type SwitchboardStatus = 'starting' | 'running' | 'stopping' | 'stopped';

export type StartOptions = {
  readonly config: Config;
  readonly logger: Logger;
  readonly clock?: Clock;
  /** Prints the newly generated API key; standard output by default. */
  readonly announceKey?: (line: string) => void;
};

/** A call that the service's current lifecycle state does not allow. */
export class LifecycleError extends Error {
  constructor(action: string, status: SwitchboardStatus) {
    super(`cannot ${action} while ${status}`);
    this.name = 'LifecycleError';
  }
}

type Parts = {
  readonly database: Database;
  readonly messages: MessageStore;
  readonly sweeper: BacklogSweeper;
  readonly scheduler: Scheduler;
  readonly snapshots: SnapshotStore;
  readonly suppressions: SuppressionStore;
  readonly tree: ActorTree;
  readonly campaigns: Campaigns;
  readonly metrics: Metrics;
  readonly server: ServerType;
};

export class Switchboard {
  #status: SwitchboardStatus = 'starting';
  #stopping: Promise<void> | undefined;
  readonly config: Config;
  readonly database: Database;
  /** The in-process API: durable acceptance and reads. */
  readonly messages: MessageStore;
  readonly snapshots: SnapshotStore;
  readonly suppressions: SuppressionStore;
  readonly tree: ActorTree;
  /** Campaigns: create, command, view (the in-process face of /v1/campaigns). */
  readonly campaigns: Campaigns;
  readonly metrics: Metrics;
  readonly #server: ServerType;
  readonly #sweeper: BacklogSweeper;
  readonly #scheduler: Scheduler;
  readonly #logger: Logger;

  private constructor(config: Config, logger: Logger, parts: Parts) {
    this.config = config;
    this.#logger = logger;
    this.database = parts.database;
    this.messages = parts.messages;
    this.#sweeper = parts.sweeper;
    this.#scheduler = parts.scheduler;
    this.snapshots = parts.snapshots;
    this.suppressions = parts.suppressions;
    this.tree = parts.tree;
    this.campaigns = parts.campaigns;
    this.metrics = parts.metrics;
    this.#server = parts.server;
  }

  get status(): SwitchboardStatus {
    return this.#status;
  }

  /** The port the HTTP server listens on (useful with PORT=0). */
  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  /** Opens the store, migrates it, builds the actor tree, re-queues unfinished messages and serves HTTP. */
  static async start(options: StartOptions): Promise<Switchboard> {
    const { config, logger } = options;
    const clock = options.clock ?? systemClock();
    logger.info({ parts: describeConfig(config) }, 'switchboard starting');

    const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
    let tree: ActorTree | undefined;
    // Started before the HTTP server; stopped again if the start fails after them.
    const timers: Array<{ stop(): unknown }> = [];
    try {
      const migration = await migrate(database.pool);
      logger.info(
        { applied: migration.applied, alreadyApplied: migration.alreadyApplied, store: database.mode },
        'schema up to date',
      );

      const apiKeys = new ApiKeyStore(database.pool);
      const bootstrap = await apiKeys.bootstrap(config.apiKeys, config.dataDir);
      if (bootstrap.source === 'generated') {
        (options.announceKey ?? ((line) => process.stdout.write(`${line}\n`)))(
          `switchboard: no SWITCHBOARD_API_KEYS set; generated API key ${bootstrap.key} (saved in ${bootstrap.file}, shown only now)`,
        );
      } else if (bootstrap.source === 'data-directory') {
        logger.info({ file: bootstrap.file }, 'using the generated API key from the data directory');
      }

      const messages = new MessageStore(database.pool, { clock });
      const snapshots = new SnapshotStore(database.pool, {
        currentVersion: RECIPIENT_STATE_VERSION,
        upgrades: RECIPIENT_STATE_UPGRADES,
        clock,
      });
      const suppressions = new SuppressionStore(database.pool, { clock });
      const templates = new TemplateStore(database.pool, { clock });
      // The tree reports outcomes to metrics, which in turn read the tree: the first is wired once both exist.
      const metricsSink: { current?: Metrics } = {};
      const builtTree = assembleTree({
        config,
        store: messages,
        snapshots,
        suppressions,
        templates,
        clock,
        logger,
        retry: DEFAULT_RETRY_POLICY,
        onOutcome: (channel, outcome) => metricsSink.current?.recordOutcome(channel, outcome.kind),
        onPossibleDuplicate: (message) => {
          metricsSink.current?.recordPossibleDuplicate(message.channel);
          logger.warn(
            { messageId: message.id, channel: message.channel },
            'message was interrupted while sending; sending again (possible duplicate)',
          );
        },
      });
      tree = builtTree;
      const metrics = createMetrics({
        system: builtTree.system,
        registries: new Map([['recipients', () => builtTree.recipients.stats()]]),
        providers: () =>
          [...builtTree.channels.values()].flatMap((channel) =>
            channel.connections.map((connection) => ({
              channel: channel.channel,
              provider: connection.name,
              breaker: connection.breaker,
              inFlight: connection.inFlight,
            })),
          ),
      });
      metricsSink.current = metrics;

      // Recovery routes what is due now; the scheduler routes what falls due after this instant.
      const recoveredAt = clock.now();
      const pending = await messages.pending(1_000_000, recoveredAt);
      for (const message of pending) builtTree.deliver(message);
      if (pending.length > 0) {
        const inSending = pending.filter((message) => message.state === 'sending').length;
        logger.info({ count: pending.length, inSending }, 're-queued unfinished messages');
      }
      builtTree.backlog.reconcile(await messages.backlogCounts());
      const sweeper = new BacklogSweeper({
        store: messages,
        deliver: (message) => builtTree.deliver(message),
        reconcile: (counts) => builtTree.backlog.reconcile(counts),
        clock,
        logger,
        everyMs: config.backlog.sweepEveryMs,
        olderThanMs: config.backlog.ageMs,
        limit: 5_000,
      });
      sweeper.start();
      timers.push(sweeper);
      const intake = new SendIntake({
        messages,
        templates,
        deliver: (message) => builtTree.deliver(message),
        backlog: builtTree.backlog,
      });
      const bridges = assembleBridges({
        system: builtTree.system,
        parent: builtTree.bridges,
        config,
        intake,
        pool: database.pool,
        clock,
        logger,
      });
      if (bridges.length > 0) logger.info({ bridges }, 'bridges started');
      const s3 = createS3Client(config.aws);
      const campaigns = new Campaigns({
        system: builtTree.system,
        parent: builtTree.campaigns,
        store: new CampaignStore(database.pool, { clock }),
        audience: new AudienceReader(s3),
        intake,
        clock,
        logger: logger.child({ component: 'campaigns' }),
        sliceSize: 1_000,
        snapshotEvery: config.campaigns.snapshotEvery,
        backlog: builtTree.backlog,
        maxBacklog: config.campaigns.maxBacklog,
        retryMs: 2_000,
      });
      await campaigns.resumeActive();
      const scheduler = new Scheduler({
        store: messages,
        deliver: (message) => builtTree.deliver(message),
        clock,
        logger,
        from: recoveredAt,
      });
      scheduler.start();
      timers.push(scheduler);

      const app = createApp({
        logger,
        maxBodyBytes: config.maxBodyBytes,
        maxBatchBodyBytes: config.maxBatchBodyBytes,
        operatorToken: config.operatorToken,
        messages,
        templates,
        suppressions,
        suppressionChanged: (tenant, recipientId, change) => builtTree.suppressionChanged(tenant, recipientId, change),
        tenantOfApiKey: (key) => apiKeys.tenantOf(key),
        readiness: async () => ({
          store: await database.ping(),
          escalations: builtTree.system.rootEscalations(),
        }),
        deliver: (message) => {
          builtTree.backlog.added(message.channel);
          builtTree.deliver(message);
        },
        admit: (channel) =>
          builtTree.backlog.pressure(channel) === 'open' ? { ok: true } : { ok: false, retryAfterSeconds: 5 },
        campaigns,
        devOutbox: builtTree.devOutbox,
        system: builtTree.system,
        metrics,
      });
      const server = await listen(app.fetch, config.port);
      const service = new Switchboard(config, logger, {
        database,
        messages,
        snapshots,
        sweeper,
        scheduler,
        suppressions,
        tree: builtTree,
        campaigns,
        metrics,
        server,
      });
      service.#status = 'running';
      logger.info({ port: service.port, store: database.mode }, 'switchboard ready');
      return service;
    } catch (error) {
      await Promise.all(timers.map((timer) => timer.stop()));
      await tree?.stop().catch(() => {});
      await database.close().catch(() => {});
      throw error;
    }
  }

  /**
   * Stops accepting HTTP requests, flushes recipient state, lets in-flight deliveries finish (up to
   * `graceMs`), then closes the store. Idempotent; a second call returns the first call's promise.
   */
  stop(graceMs = this.config.shutdownGraceMs): Promise<void> {
    if (this.#status === 'starting') return Promise.reject(new LifecycleError('stop', this.#status));
    this.#stopping ??= (async () => {
      this.#status = 'stopping';
      this.#logger.info({ graceMs }, 'switchboard stopping');
      const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
      (this.#server as { closeIdleConnections?: () => void }).closeIdleConnections?.();
      this.#sweeper.stop();
      const schedulerStopped = this.#scheduler.stop();
      const drained = closed
        .then(() => schedulerStopped)
        .then(() => Promise.all([this.tree.stopBridges(), this.campaigns.close()]))
        .then(() => this.messages.close())
        .then(() => this.tree.stop())
        .then(() => Promise.all([this.messages.closeTransitions(), this.suppressions.close()]))
        .then(() => 'drained' as const);
      const deadline = new Promise<'deadline'>((resolve) => setTimeout(() => resolve('deadline'), graceMs).unref());
      if ((await Promise.race([drained, deadline])) === 'deadline') {
        this.#logger.warn({ graceMs }, 'grace period over; closing with work in flight (it resumes at next start)');
        (this.#server as { closeAllConnections?: () => void }).closeAllConnections?.();
      }
      await this.snapshots
        .close()
        .catch((error: unknown) => this.#logger.error({ err: error }, 'snapshot flush failed at stop'));
      await this.database.close();
      this.#status = 'stopped';
      this.#logger.info('switchboard stopped');
    })();
    return this.#stopping;
  }
}

function listen(fetch: (request: Request) => Response | Promise<Response>, port: number): Promise<ServerType> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch, port }, () => resolve(server));
    server.once('error', reject);
  });
}
