// The rabbit-ingest bridge against the real RabbitMQ and PostgreSQL: the §6 topology (declared twice),
// 1,000 sends accepted once with the queues left empty, bad sends dead-lettered with their reason,
// SMS held under push-back while email flows, and a broker restart (stop_app / start_app) mid-stream
// with nothing lost and exactly one consumer per queue afterwards. Names carry a per-run prefix.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { type ChannelModel, type ConfirmChannel, connect, type GetMessage } from 'amqplib';
import { sql } from 'slonik';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { BridgeConnection } from '../../actors/bridge/BridgeActor.ts';
import { spawnBridge } from '../../actors/bridge/BridgeActor.ts';
import { declareTopology, topologyNames } from '../../actors/bridge/rabbitmq/declareTopology.ts';
import { type RabbitIngestOptions, rabbitIngestConnector } from '../../actors/bridge/rabbitmq/RabbitIngest.ts';
import { SendIntake } from '../../actors/bridge/SendIntake.ts';
import { ChannelBacklog } from '../../actors/channel/ChannelBacklog.ts';
import type { ActorBehavior, AnyActorRef, GaugeValue } from '../../runtime/kernel/ActorRef.ts';
import { ActorSystem } from '../../runtime/kernel/ActorSystem.ts';
import { createLogger } from '../../runtime/logging/createLogger.ts';
import { MessageStore } from '../../runtime/messages/MessageStore.ts';
import { CHANNELS, type Channel, type Priority } from '../../runtime/messages/sendRequest.ts';
import { migrate } from '../../runtime/persistence/migrate.ts';
import { type Database, openDatabase } from '../../runtime/persistence/openDatabase.ts';
import { TemplateStore } from '../../runtime/templates/TemplateStore.ts';
import { systemClock } from '../../runtime/time/Clock.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { waitFor } from '../support/waitFor.ts';

const amqpUrl = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const run = randomBytes(4).toString('hex');
const names = topologyNames(`sbtest-${run}.`);
const ALL_QUEUES = [...CHANNELS.map((channel) => names.queues[channel]), names.deadQueue];
const BACKLOG_LIMIT = 10_000;
const execFileAsync = promisify(execFile);

type Routed = { id: string; channel: Channel; tenant: string; recipientId: string; priority: Priority };

/** `rabbitmqctl <args>`; the CLI boots an Erlang VM, which takes a while on a busy machine. */
async function rabbitmqctl(...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync('rabbitmqctl', args, { timeout: 180_000 });
  return stdout;
}

/** A valid send for `channel`, keyed (idempotency key and recipient id) by `key`. */
function send(channel: Channel, key: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const to = {
    email: { id: key, email: `${key}@example.com` },
    sms: { id: key, phone: '+447700900123' },
    push: { id: key, pushTarget: 'arn:aws:sns:eu-west-1:123456789012:endpoint/APNS/switchboard/1' },
    webhook: { id: key, url: 'https://example.com/hooks/switchboard' },
  }[channel];
  const content = channel === 'email' ? { subject: 'Hello', text: 'Hello there' } : { text: 'Hello there' };
  return { idempotencyKey: key, channel, to, content, ...extra };
}

type Publication = {
  readonly routingKey: string;
  readonly body: Record<string, unknown> | string;
  readonly headers?: Record<string, unknown>;
};

/**
 * The test's own publisher and inspector: one connection with a confirm channel, reopened on the
 * next use after the broker closed it (the restart test).
 */
class BrokerSession {
  readonly errors: Error[] = [];
  #open: Promise<{ connection: ChannelModel; channel: ConfirmChannel }> | undefined;

  async channel(): Promise<ConfirmChannel> {
    if (this.#open === undefined) {
      const opening: Promise<{ connection: ChannelModel; channel: ConfirmChannel }> = this.#connect(() => {
        if (this.#open === opening) this.#open = undefined;
      });
      this.#open = opening;
    }
    return (await this.#open).channel;
  }

  /** Opens a connection and channel; `forget` runs when either closes, or when opening fails. */
  async #connect(forget: () => void): Promise<{ connection: ChannelModel; channel: ConfirmChannel }> {
    try {
      const connection = await connect(amqpUrl);
      connection.on('error', (error: Error) => this.errors.push(error));
      connection.on('close', forget);
      const channel = await connection.createConfirmChannel();
      channel.on('error', (error: Error) => this.errors.push(error));
      channel.on('close', forget);
      return { connection, channel };
    } catch (error) {
      forget();
      throw error;
    }
  }

  /** Publishes persistent messages to the send exchange and waits for the broker's confirms. */
  async publish(publications: readonly Publication[]): Promise<void> {
    const channel = await this.channel();
    for (const { routingKey, body, headers } of publications) {
      const content = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
      channel.publish(names.sendExchange, routingKey, content, {
        persistent: true,
        contentType: 'application/json',
        ...(headers ? { headers } : {}),
      });
    }
    await channel.waitForConfirms();
  }

  async queue(name: string): Promise<{ messageCount: number; consumerCount: number }> {
    return (await this.channel()).checkQueue(name);
  }

  async get(name: string): Promise<GetMessage | false> {
    return (await this.channel()).get(name, { noAck: true });
  }

  async close(): Promise<void> {
    const open = this.#open;
    this.#open = undefined;
    if (open === undefined) return;
    const { connection } = await open;
    await connection.close().catch(() => {});
  }
}

/** A supervisor only parents. */
const SUPERVISOR: ActorBehavior<null, never> = { kind: 'supervisor', init: () => null, receive: (state) => state };

type RunningBridge = {
  readonly ref: AnyActorRef;
  /** Every connection the connector opened, in order (a restart adds one). */
  readonly connections: BridgeConnection[];
  stats(): Readonly<Record<string, GaugeValue>>;
};

describe('rabbit-ingest bridge', () => {
  const logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'error' });
  const routed: Routed[] = [];
  const listenerErrors: unknown[] = [];
  const broker = new BrokerSession();
  let testDb: TestDatabase;
  let database: Database;
  let store: MessageStore;
  let backlog: ChannelBacklog;
  let intake: SendIntake;
  let system: ActorSystem;
  let bridges: AnyActorRef;
  let bridge: RunningBridge | undefined;
  let brokerMayBeDown = false;

  const routedWith = (prefix: string) => routed.filter((message) => message.recipientId.startsWith(prefix));

  function startBridge(overrides: Partial<RabbitIngestOptions> = {}): RunningBridge {
    const connector = rabbitIngestConnector({ url: amqpUrl, intake, logger, names, ...overrides });
    const connections: BridgeConnection[] = [];
    const ref = spawnBridge(system, bridges, 'rabbit-ingest', async (fail) => {
      const connection = await connector(fail);
      connections.push(connection);
      return connection;
    });
    bridge = { ref, connections, stats: () => connections.at(-1)?.stats() ?? {} };
    return bridge;
  }

  async function stopBridge(): Promise<void> {
    if (bridge === undefined) return;
    const { ref } = bridge;
    bridge = undefined;
    await system.stop(ref);
  }

  async function countMessages(prefix: string): Promise<{ total: number; keys: number }> {
    return database.pool.one(
      sql.type(z.object({ total: z.number(), keys: z.number() }))`
        SELECT count(*)::int AS total, count(DISTINCT idempotency_key)::int AS keys
        FROM messages WHERE idempotency_key LIKE ${`${prefix}%`}`,
    );
  }

  /** True once no queue of the topology holds a ready message. */
  async function queuesEmpty(): Promise<boolean> {
    for (const queue of ALL_QUEUES) if ((await broker.queue(queue)).messageCount > 0) return false;
    return true;
  }

  /** Stops the bridge (unacked deliveries return to their queues) and checks nothing is left. */
  async function expectNothingLeftAfterStop(): Promise<void> {
    await stopBridge();
    for (const queue of ALL_QUEUES)
      expect(await broker.queue(queue), queue).toEqual(expect.objectContaining({ messageCount: 0, consumerCount: 0 }));
  }

  beforeAll(async () => {
    testDb = await createTestDatabase();
    database = await openDatabase({ databaseUrl: testDb.url, dataDir: '/nonexistent', maximumPoolSize: 4 });
    await migrate(database.pool);
    store = new MessageStore(database.pool);
    backlog = new ChannelBacklog({ limit: BACKLOG_LIMIT, onListenerError: (error) => listenerErrors.push(error) });
    intake = new SendIntake({
      messages: store,
      templates: new TemplateStore(database.pool),
      backlog,
      deliver: (message) => routed.push(message),
    });
    system = new ActorSystem({ clock: systemClock(), logger });
    bridges = system.spawn(system.root, 'bridges', SUPERVISOR);
  });

  afterEach(async () => {
    await stopBridge();
  });

  afterAll(async () => {
    await system?.shutdown();
    // The restart test starts the app again itself; this covers a failure between its steps.
    if (brokerMayBeDown) await rabbitmqctl('start_app').then(() => rabbitmqctl('await_startup'));
    try {
      const channel = await broker.channel();
      for (const queue of ALL_QUEUES) await channel.deleteQueue(queue);
      for (const exchange of [names.sendExchange, names.deadLetterExchange, names.eventsExchange])
        await channel.deleteExchange(exchange);
    } finally {
      await broker.close();
      await store?.close();
      await store?.closeTransitions();
      await database?.close();
      await testDb?.drop();
    }
  });

  it('declares the §6 topology, twice without error', async () => {
    const connection = await connect(amqpUrl);
    try {
      for (let i = 0; i < 2; i++) {
        const channel = await connection.createChannel();
        await declareTopology(channel, names);
        await channel.close();
      }
    } finally {
      await connection.close();
    }
    const queues = await rabbitmqctl('list_queues', '-q', '--no-table-headers', 'name', 'durable', 'arguments');
    const ours = queues.split('\n').filter((line) => line.startsWith(`sbtest-${run}.`));
    expect(ours).toHaveLength(5);
    for (const channel of CHANNELS) {
      const line = ours.find((entry) => entry.split('\t')[0] === names.queues[channel]);
      expect(line, channel).toMatch(/\ttrue\t/);
      expect(line, channel).toContain(`"x-dead-letter-exchange","${names.deadLetterExchange}"`);
    }
    expect(ours.find((entry) => entry.split('\t')[0] === names.deadQueue)).toMatch(/\ttrue\t\[\]$/);

    const exchanges = await rabbitmqctl('list_exchanges', '-q', '--no-table-headers', 'name', 'type', 'durable');
    expect(exchanges).toContain(`${names.sendExchange}\ttopic\ttrue`);
    expect(exchanges).toContain(`${names.deadLetterExchange}\tfanout\ttrue`);
    expect(exchanges).toContain(`${names.eventsExchange}\ttopic\ttrue`);

    const bindings = await rabbitmqctl(
      'list_bindings',
      '-q',
      '--no-table-headers',
      'source_name',
      'destination_name',
      'routing_key',
    );
    for (const channel of CHANNELS)
      expect(bindings).toContain(`${names.sendExchange}\t${names.queues[channel]}\t${channel}`);
    expect(bindings).toContain(`${names.deadLetterExchange}\t${names.deadQueue}\t`);
  });

  it('accepts 1,000 sends once each and leaves the queues empty', async () => {
    const running = startBridge();
    await waitFor(() => running.stats().connection === 'open', { what: 'the bridge to connect' });
    const publications = Array.from({ length: 1_000 }, (_, i): Publication => {
      const channel = CHANNELS[i % CHANNELS.length] as Channel;
      return {
        routingKey: channel,
        body: send(channel, `bulk-${i}`),
        ...(i % 3 === 0 ? { headers: { 'x-switchboard-tenant': 'acme' } } : {}),
      };
    });
    await broker.publish(publications);

    await waitFor(() => routedWith('bulk-').length >= 1_000, { timeoutMs: 120_000, what: '1,000 routed sends' });
    await waitFor(queuesEmpty, { timeoutMs: 60_000, what: 'empty queues' });
    await waitFor(() => CHANNELS.every((channel) => running.stats()[`${channel}.accepted`] === 250), {
      what: '250 acks per queue',
    });
    expect(routedWith('bulk-')).toHaveLength(1_000);
    expect(new Set(routedWith('bulk-').map((message) => message.recipientId)).size).toBe(1_000);
    expect(routedWith('bulk-').filter((message) => message.tenant === 'acme')).toHaveLength(334);
    expect(await countMessages('bulk-')).toEqual({ total: 1_000, keys: 1_000 });
    for (const channel of CHANNELS) {
      expect(running.stats()[`${channel}.invalid`]).toBe(0);
      expect(running.stats()[`${channel}.inFlight`]).toBe(0);
    }
    await expectNothingLeftAfterStop();
  });

  it('dead-letters unparseable and invalid sends with their reason while the rest flow', async () => {
    const running = startBridge();
    await waitFor(() => running.stats().connection === 'open', { what: 'the bridge to connect' });
    const valid = Array.from({ length: 20 }, (_, i): Publication => {
      const channel = CHANNELS[i % CHANNELS.length] as Channel;
      return { routingKey: channel, body: send(channel, `flow-${i}`) };
    });
    const bad: Publication[] = [
      { routingKey: 'email', body: '{"channel": "email", oops', headers: { 'x-trace': 'trace-1' } },
      { routingKey: 'sms', body: { channel: 'sms', to: { id: 'bad-2' }, content: { text: 'hi' } } },
      { routingKey: 'email', body: send('sms', 'bad-3') },
      { routingKey: 'push', body: { ...send('push', 'bad-4'), content: undefined, template: { id: 'no-such' } } },
      { routingKey: 'webhook', body: send('webhook', 'bad-5'), headers: { 'x-switchboard-tenant': 'a:b' } },
      { routingKey: 'sms', body: '' },
    ];
    await broker.publish([...valid.slice(0, 10), ...bad, ...valid.slice(10)]);

    const dead: GetMessage[] = [];
    await waitFor(
      async () => {
        for (let message = await broker.get(names.deadQueue); message; message = await broker.get(names.deadQueue))
          dead.push(message);
        return dead.length >= bad.length;
      },
      { timeoutMs: 60_000, what: `${bad.length} dead letters` },
    );
    await waitFor(() => routedWith('flow-').length === 20, { timeoutMs: 60_000, what: '20 valid sends routed' });
    await waitFor(queuesEmpty, { timeoutMs: 60_000, what: 'empty queues' });

    const reasonOf = (predicate: (message: GetMessage) => boolean): unknown => {
      const message = dead.find(predicate);
      return message?.properties.headers?.['x-switchboard-reason'];
    };
    const bodyHas = (text: string) => (message: GetMessage) => message.content.toString().includes(text);
    expect(dead).toHaveLength(bad.length);
    expect(reasonOf(bodyHas('oops'))).toMatch(/^not JSON/);
    expect(reasonOf(bodyHas('bad-2'))).toContain('to.phone');
    expect(reasonOf(bodyHas('bad-3'))).toMatch(/a sms send arrived on .*switchboard\.send\.email/);
    expect(reasonOf(bodyHas('bad-4'))).toContain('template no-such does not exist');
    expect(reasonOf(bodyHas('bad-5'))).toContain('x-switchboard-tenant');
    expect(reasonOf((message) => message.content.length === 0)).toBe('empty record');
    // The original routing key, properties and headers travel with the reason.
    const malformed = dead.find(bodyHas('oops'));
    expect(malformed?.fields.routingKey).toBe('email');
    expect(malformed?.fields.exchange).toBe(names.deadLetterExchange);
    expect(malformed?.properties.headers?.['x-trace']).toBe('trace-1');
    expect(malformed?.properties.headers?.['x-switchboard-queue']).toBe(names.queues.email);
    expect(malformed?.properties.contentType).toBe('application/json');
    expect(malformed?.properties.deliveryMode).toBe(2);
    expect(dead.find(bodyHas('bad-3'))?.fields.routingKey).toBe('email');

    expect(await countMessages('flow-')).toEqual({ total: 20, keys: 20 });
    expect(await countMessages('bad-')).toEqual({ total: 0, keys: 0 });
    const invalid = CHANNELS.map((channel) => running.stats()[`${channel}.invalid`]);
    expect(invalid).toEqual([2, 2, 1, 1]);
    await expectNothingLeftAfterStop();
  });

  it('holds SMS unacked while its backlog is over the limit, keeps email flowing, then accepts SMS', async () => {
    backlog.added('sms', BACKLOG_LIMIT);
    expect(intake.isOpen('sms')).toBe(false);
    const prefetch = 50;
    const running = startBridge({ prefetch });
    await waitFor(() => running.stats().connection === 'open', { what: 'the bridge to connect' });
    await broker.publish(
      Array.from({ length: 400 }, (_, i): Publication => {
        const channel: Channel = i % 2 === 0 ? 'sms' : 'email';
        return { routingKey: channel, body: send(channel, `pressure-${channel}-${i}`) };
      }),
    );

    await waitFor(() => routedWith('pressure-email-').length === 200, { timeoutMs: 60_000, what: 'email routed' });
    // The prefetch window is full of held SMS deliveries: the broker keeps the rest ready.
    await waitFor(() => running.stats()['sms.held'] === prefetch, { timeoutMs: 60_000, what: 'a full SMS window' });
    await waitFor(async () => (await broker.queue(names.queues.sms)).messageCount === 200 - prefetch, {
      what: 'the SMS queue to keep the rest ready',
    });
    expect(running.stats()['sms.paused']).toBe(true);
    expect(running.stats()['email.paused']).toBe(false);
    expect(running.stats()['sms.accepted']).toBe(0);
    expect(routedWith('pressure-sms-')).toHaveLength(0);
    expect((await broker.queue(names.queues.email)).messageCount).toBe(0);

    backlog.finished('sms', BACKLOG_LIMIT);
    await waitFor(() => routedWith('pressure-sms-').length === 200, { timeoutMs: 60_000, what: 'SMS routed' });
    await waitFor(queuesEmpty, { timeoutMs: 60_000, what: 'empty queues' });
    expect(running.stats()['sms.paused']).toBe(false);
    expect(await countMessages('pressure-')).toEqual({ total: 400, keys: 400 });
    await expectNothingLeftAfterStop();
  });

  // Last: it restarts the broker application that everything on this machine shares.
  it('survives a broker restart mid-stream: nothing lost, one consumer per queue after reconnecting', async () => {
    const running = startBridge();
    await waitFor(() => running.stats().connection === 'open', { what: 'the bridge to connect' });
    const publication = (i: number): Publication => {
      const channel = CHANNELS[i % CHANNELS.length] as Channel;
      return { routingKey: channel, body: send(channel, `restart-${i}`) };
    };
    // A steady stream of confirmed chunks that outlives the outage: a chunk whose confirms were lost
    // with the connection is published again (its idempotency keys make that harmless).
    const stream = { published: 0, failedChunks: 0, stop: false };
    const publishing = (async () => {
      const chunk = 50;
      while (!stream.stop) {
        let failed = false;
        try {
          await broker.publish(Array.from({ length: chunk }, (_, k) => publication(stream.published + k)));
          stream.published += chunk;
        } catch {
          stream.failedChunks++;
          failed = true;
        }
        // Paces the stream (about one chunk per 20 ms, slower while the broker is away), so it is still
        // running when the broker stops.
        await new Promise((resolve) => setTimeout(resolve, failed ? 100 : 20));
      }
    })();

    const seenAtBreak = { published: 0, routed: 0 };
    let smsPushedBack = false;
    try {
      await waitFor(() => routedWith('restart-').length >= 500, { timeoutMs: 60_000, what: 'the stream to flow' });
      // SMS pushed back: its window fills with held, unacked deliveries and the rest wait in its queue,
      // so the broker stops with messages both unacked and ready.
      backlog.added('sms', BACKLOG_LIMIT);
      smsPushedBack = true;
      await waitFor(() => running.stats()['sms.held'] === 256, { timeoutMs: 60_000, what: 'a full SMS window' });
      await waitFor(async () => (await broker.queue(names.queues.sms)).messageCount > 0, {
        timeoutMs: 60_000,
        what: 'SMS waiting in its queue',
      });
      brokerMayBeDown = true;
      try {
        await rabbitmqctl('stop_app');
        await waitFor(() => running.connections[0]?.stats().connection !== 'open', { what: 'the break' });
        Object.assign(seenAtBreak, { published: stream.published, routed: routedWith('restart-').length });
        // The bridge reported the break; the actor closed the connection and reconnects with backoff.
        await waitFor(() => running.connections[0]?.stats().connection === 'closed', {
          timeoutMs: 60_000,
          what: 'the first connection to be closed',
        });
      } finally {
        await rabbitmqctl('start_app');
        await rabbitmqctl('await_startup');
        brokerMayBeDown = false;
      }
      const resumedFrom = stream.published;
      await waitFor(() => stream.published >= resumedFrom + 1_000, {
        timeoutMs: 120_000,
        what: 'the stream to resume',
      });
      // The new connection's SMS consumer holds too, until the push-back ends.
      await waitFor(() => running.stats()['sms.held'] === 256, { timeoutMs: 60_000, what: 'SMS held again' });
    } finally {
      if (smsPushedBack) backlog.finished('sms', BACKLOG_LIMIT);
      stream.stop = true;
      await publishing;
    }

    const total = stream.published;
    await waitFor(() => routedWith('restart-').length >= total, { timeoutMs: 180_000, what: `${total} routed` });
    await waitFor(queuesEmpty, { timeoutMs: 60_000, what: 'empty queues' });
    expect(running.connections.length).toBeGreaterThanOrEqual(2);
    expect(running.stats().connection).toBe('open');
    expect(routedWith('restart-')).toHaveLength(total);
    expect(new Set(routedWith('restart-').map((message) => message.recipientId)).size).toBe(total);
    expect(await countMessages('restart-')).toEqual({ total, keys: total });
    for (const queue of CHANNELS.map((channel) => names.queues[channel]))
      expect((await broker.queue(queue)).consumerCount, queue).toBe(1);
    const consumers = (await rabbitmqctl('list_consumers', '-q', '--no-table-headers', 'queue_name'))
      .split('\n')
      .filter((line) => line.startsWith(`sbtest-${run}.`))
      .sort();
    expect(consumers).toEqual(CHANNELS.map((channel) => names.queues[channel]).sort());
    console.info(
      `broker restart: break seen with ${seenAtBreak.published} published and ${seenAtBreak.routed} routed; ` +
        `${total} published in all, ${stream.failedChunks} chunks published again, ` +
        `${running.connections.length} connections opened`,
    );
    await expectNothingLeftAfterStop();
    expect(system.rootEscalations()).toEqual([]);
    expect(listenerErrors).toEqual([]);
  }, 400_000);
});
