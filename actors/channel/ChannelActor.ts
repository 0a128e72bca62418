// One actor per channel: a bounded in-memory queue by priority (transactional before marketing),
// handing each message to the first healthy provider connection in its failover order, within that
// connection's rate and in-flight window. What does not fit in memory waits in PostgreSQL (already
// `queued`) and is pulled back when the queue drains. Deliveries run beside the mailbox and report
// back as messages, so a slow provider never blocks the actor.
import { BoundedQueue } from '../../runtime/flow/BoundedQueue.ts';
import type { ActorContext, ActorRef, AnyActorRef } from '../../runtime/kernel/ActorRef.ts';
import type { ActorSystem } from '../../runtime/kernel/ActorSystem.ts';
import type { Logger } from '../../runtime/logging/createLogger.ts';
import type { MessageStore } from '../../runtime/messages/MessageStore.ts';
import { type Channel, PRIORITIES, type Priority } from '../../runtime/messages/sendRequest.ts';
import type { Clock, TimerHandle } from '../../runtime/time/Clock.ts';
import type { ProviderConnection } from '../provider/ProviderConnection.ts';
import { attemptDelivery, type DeliveryDeps, type DeliveryOutcome, recordSent } from './attemptDelivery.ts';

/** The ChannelActor's protocol. */
export type ChannelMessage =
  /** `retry` marks the delivery a backoff timer sends; other deliveries of a message waiting out its backoff are ignored. */
  | { readonly type: 'deliver'; readonly messageId: string; readonly priority: Priority; readonly retry?: true }
  /** The provider has it; only its `sent` record is still to be written. */
  | { readonly type: 'record'; readonly messageId: string; readonly provider: string }
  | { readonly type: 'settled'; readonly messageId: string; readonly outcome: DeliveryOutcome }
  /** Time to look again: a token refilled, a breaker may have closed, or the overflow can be pulled. */
  | { readonly type: 'wake' }
  | {
      readonly type: 'pulled';
      readonly messages: ReadonlyArray<{ readonly id: string; readonly priority: Priority }>;
      readonly complete: boolean;
    };

export type ChannelStats = {
  readonly channel: Channel;
  readonly providers: readonly string[];
  readonly queued: number;
  readonly inFlight: number;
  readonly retriesWaiting: number;
  readonly overflow: boolean;
  readonly sent: number;
  readonly failed: number;
  readonly dead: number;
};

export type ChannelActorOptions = {
  readonly channel: Channel;
  readonly store: MessageStore;
  readonly delivery: DeliveryDeps;
  /**
   * Builds the provider connections, as children of the channel, in failover order: the first
   * healthy one with capacity gets the message.
   */
  readonly connections: (channel: AnyActorRef) => readonly ProviderConnection[];
  readonly clock: Clock;
  readonly logger: Logger;
  /** Most messages held in memory. */
  readonly queueCapacity: number;
  /** Wait before trying a message again after the store failed under it. */
  readonly storeRetryMs: number;
  readonly onOutcome?: (channel: Channel, outcome: DeliveryOutcome) => void;
};

/** The channel's working state. It outlives restarts of the actor: the ids it holds are real work. */
class ChannelState {
  readonly queue: BoundedQueue<string, Priority>;
  readonly known = new Set<string>();
  /** Messages being delivered, with their priority (a retry keeps it). */
  readonly inFlight = new Map<string, Priority>();
  /** The connection whose window each delivery holds a place in. */
  readonly via = new Map<string, ProviderConnection>();
  readonly timers = new Map<string, TimerHandle>();
  wakeTimer: TimerHandle | undefined;
  /** Messages were refused for lack of room: the store holds queued messages the queue does not. */
  overflow = false;
  pulling = false;
  sent = 0;
  failed = 0;
  dead = 0;
  #idle: Array<() => void> = [];

  constructor(capacity: number, onListenerError: (error: unknown) => void) {
    this.queue = new BoundedQueue<string, Priority>({
      priorities: PRIORITIES,
      capacity,
      highWatermark: capacity,
      lowWatermark: Math.floor(capacity / 2),
      onListenerError,
    });
  }

  notifyIfIdle(): void {
    if (this.inFlight.size > 0) return;
    const waiters = this.#idle;
    this.#idle = [];
    for (const resolve of waiters) resolve();
  }

  whenIdle(): Promise<void> {
    if (this.inFlight.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }
}

export class ChannelActor {
  readonly channel: Channel;
  readonly ref: ActorRef<ChannelMessage>;
  readonly #state: ChannelState;
  readonly #options: ChannelActorOptions;
  readonly #system: ActorSystem;
  #accepting = true;

  readonly #connections: readonly ProviderConnection[];

  constructor(system: ActorSystem, parent: AnyActorRef, options: ChannelActorOptions) {
    this.channel = options.channel;
    this.#options = options;
    this.#system = system;
    this.#state = new ChannelState(options.queueCapacity, (error) =>
      options.logger.error({ err: error, channel: options.channel }, 'queue pressure listener failed'),
    );
    this.ref = system.spawn(parent, options.channel, {
      kind: 'channel',
      init: () => this.#state,
      receive: (state: ChannelState, message: ChannelMessage, context: ActorContext<ChannelMessage>) =>
        this.#handle(state, message, context),
      gauges: () => {
        const stats = this.stats();
        return {
          providers: stats.providers.join(','),
          queued: stats.queued,
          inFlight: stats.inFlight,
          retriesWaiting: stats.retriesWaiting,
          overflow: stats.overflow,
          sent: stats.sent,
          failed: stats.failed,
          dead: stats.dead,
        };
      },
    });
    this.#connections = options.connections(this.ref);
  }

  get connections(): readonly ProviderConnection[] {
    return this.#connections;
  }

  deliver(messageId: string, priority: Priority): void {
    this.#system.dispatch(this.ref, { type: 'deliver', messageId, priority });
  }

  stats(): ChannelStats {
    const s = this.#state;
    return {
      channel: this.channel,
      providers: this.#connections.map((connection) => connection.name),
      queued: s.queue.size,
      inFlight: s.inFlight.size,
      retriesWaiting: s.timers.size,
      overflow: s.overflow,
      sent: s.sent,
      failed: s.failed,
      dead: s.dead,
    };
  }

  /**
   * Stops taking new deliveries, cancels waiting retries (their messages stay queued in the store) and
   * waits for in-flight deliveries to settle.
   */
  async drain(): Promise<void> {
    this.#accepting = false;
    for (const timer of this.#state.timers.values()) this.#options.clock.clearTimeout(timer);
    this.#state.timers.clear();
    if (this.#state.wakeTimer) this.#options.clock.clearTimeout(this.#state.wakeTimer);
    await this.#state.whenIdle();
  }

  #handle(state: ChannelState, message: ChannelMessage, context: ActorContext<ChannelMessage>): ChannelState {
    switch (message.type) {
      case 'deliver':
        if (!message.retry && state.timers.has(message.messageId)) break;
        state.timers.delete(message.messageId);
        this.#enqueue(state, message.messageId, message.priority);
        break;
      case 'record':
        state.timers.delete(message.messageId);
        if (!this.#accepting || state.inFlight.has(message.messageId)) break;
        state.inFlight.set(message.messageId, 'transactional');
        this.#track(recordSent(this.#options.store, message.messageId, message.provider), message.messageId, context, {
          kind: 'unrecorded',
          providerAccepted: true,
          provider: message.provider,
        });
        break;
      case 'settled': {
        const priority = state.inFlight.get(message.messageId) ?? 'transactional';
        state.inFlight.delete(message.messageId);
        state.known.delete(message.messageId);
        state.via.get(message.messageId)?.release();
        state.via.delete(message.messageId);
        this.#settle(state, message.messageId, priority, message.outcome, context);
        state.notifyIfIdle();
        break;
      }
      case 'wake':
        state.wakeTimer = undefined;
        break;
      case 'pulled':
        state.pulling = false;
        for (const pulled of message.messages) this.#enqueue(state, pulled.id, pulled.priority);
        // A full page means the store may hold more.
        if (message.complete) state.overflow = true;
        break;
    }
    this.#pump(state, context);
    return state;
  }

  #enqueue(state: ChannelState, messageId: string, priority: Priority): void {
    if (!this.#accepting || state.known.has(messageId) || state.inFlight.has(messageId)) return;
    if (state.queue.offer(messageId, priority)) state.known.add(messageId);
    // No room: the message is already `queued` in the store and is pulled back when the queue drains.
    else state.overflow = true;
  }

  #pump(state: ChannelState, context: ActorContext<ChannelMessage>): void {
    while (this.#accepting && !state.queue.isEmpty) {
      const connection = this.#connections.find((candidate) => candidate.tryReserve());
      if (connection === undefined) {
        this.#wakeLater(state, context);
        break;
      }
      const priority = highestWaiting(state.queue);
      const messageId = state.queue.shift();
      if (messageId === undefined) break;
      state.inFlight.set(messageId, priority);
      state.via.set(messageId, connection);
      this.#track(attemptDelivery(this.#options.delivery, messageId, connection), messageId, context, {
        kind: 'unrecorded',
        providerAccepted: false,
      });
    }
    if (state.overflow && !state.pulling && state.queue.size <= state.queue.capacity / 2) this.#pull(state, context);
  }

  /** Reads queued messages of this channel back from the store, to fill the free half of the queue. */
  #pull(state: ChannelState, context: ActorContext<ChannelMessage>): void {
    state.pulling = true;
    state.overflow = false;
    const limit = state.queue.available();
    const skip = [...state.known, ...state.inFlight.keys(), ...state.timers.keys()];
    this.#options.store.queuedFor(this.channel, limit, skip).then(
      (messages) =>
        this.#system.dispatch(context.self, { type: 'pulled', messages, complete: messages.length >= limit }),
      (error: unknown) => {
        this.#options.logger.warn(
          { err: error, channel: this.channel },
          'could not pull queued messages; will try again',
        );
        this.#system.dispatch(context.self, { type: 'pulled', messages: [], complete: true });
      },
    );
  }

  /** Nothing can go now: look again when the earliest token refills (or shortly, for breakers). */
  #wakeLater(state: ChannelState, context: ActorContext<ChannelMessage>): void {
    if (state.wakeTimer) return;
    const wait = Math.min(250, ...this.#connections.map((connection) => Math.max(1, connection.msUntilToken())));
    state.wakeTimer = this.#options.clock.setTimeout(() => this.#system.dispatch(context.self, { type: 'wake' }), wait);
  }

  /** Reports a delivery's outcome back to the actor as a message; a thrown error becomes `unrecorded`. */
  #track(
    work: Promise<DeliveryOutcome>,
    messageId: string,
    context: ActorContext<ChannelMessage>,
    onError:
      | { kind: 'unrecorded'; providerAccepted: false }
      | { kind: 'unrecorded'; providerAccepted: true; provider: string },
  ): void {
    work.then(
      (outcome) => this.#system.dispatch(context.self, { type: 'settled', messageId, outcome }),
      (error: unknown) =>
        this.#system.dispatch(context.self, { type: 'settled', messageId, outcome: { ...onError, error } }),
    );
  }

  #settle(
    state: ChannelState,
    messageId: string,
    priority: Priority,
    outcome: DeliveryOutcome,
    context: ActorContext<ChannelMessage>,
  ): void {
    const { logger } = this.#options;
    this.#options.onOutcome?.(this.channel, outcome);
    switch (outcome.kind) {
      case 'sent':
        state.sent++;
        logger.debug({ messageId, channel: this.channel, provider: outcome.provider }, 'message sent');
        return;
      case 'failed':
        state.failed++;
        logger.warn({ messageId, channel: this.channel, error: outcome.error }, 'message failed permanently');
        return;
      case 'dead':
        state.dead++;
        logger.warn({ messageId, channel: this.channel, error: outcome.error }, 'message dead after its last attempt');
        return;
      case 'skipped':
        logger.debug({ messageId, channel: this.channel, reason: outcome.reason }, 'delivery skipped');
        return;
      case 'retry':
        logger.info(
          { messageId, channel: this.channel, delayMs: outcome.delayMs, error: outcome.error },
          'delivery will be retried',
        );
        this.#later(state, { type: 'deliver', messageId, priority, retry: true }, outcome.delayMs, context);
        return;
      case 'unrecorded':
        logger.error(
          { messageId, channel: this.channel, err: outcome.error, providerAccepted: outcome.providerAccepted },
          outcome.providerAccepted
            ? 'store failed to record a sent message; will record it again (the provider is not asked twice)'
            : 'store failed during delivery; will try again',
        );
        this.#later(
          state,
          outcome.providerAccepted
            ? { type: 'record', messageId, provider: outcome.provider }
            : { type: 'deliver', messageId, priority, retry: true },
          this.#options.storeRetryMs,
          context,
        );
        return;
    }
  }

  #later(
    state: ChannelState,
    message: Extract<ChannelMessage, { type: 'deliver' | 'record' }>,
    delayMs: number,
    context: ActorContext<ChannelMessage>,
  ): void {
    if (!this.#accepting) return;
    const timer = this.#options.clock.setTimeout(() => this.#system.dispatch(context.self, message), delayMs);
    state.timers.set(message.messageId, timer);
  }
}

/** The priority of the message `shift()` takes next. */
function highestWaiting(queue: BoundedQueue<string, Priority>): Priority {
  return PRIORITIES.find((priority) => queue.sizeOf(priority) > 0) ?? 'transactional';
}
