// One actor per channel: takes message ids, keeps at most `window` deliveries in flight through its
// provider, and schedules retries. Deliveries run beside the mailbox and report back as messages, so
// a slow provider never blocks the actor from taking new work.
import type { ActorBehavior, ActorContext, ActorRef, AnyActorRef } from '../../runtime/kernel/ActorRef.ts';
import type { ActorSystem } from '../../runtime/kernel/ActorSystem.ts';
import type { Logger } from '../../runtime/logging/createLogger.ts';
import type { Channel } from '../../runtime/messages/sendRequest.ts';
import type { Clock, TimerHandle } from '../../runtime/time/Clock.ts';
import { attemptDelivery, type DeliveryDeps, type DeliveryOutcome, recordSent } from './attemptDelivery.ts';

/** The ChannelActor's protocol. */
export type ChannelMessage =
  /** `retry` marks the delivery a backoff timer sends; other deliveries of a message waiting out its backoff are ignored. */
  | { readonly type: 'deliver'; readonly messageId: string; readonly retry?: true }
  /** The provider has it; only its `sent` record is still to be written. */
  | { readonly type: 'record'; readonly messageId: string; readonly provider: string }
  | { readonly type: 'settled'; readonly messageId: string; readonly outcome: DeliveryOutcome };

export type ChannelStats = {
  readonly channel: Channel;
  readonly provider: string;
  readonly queued: number;
  readonly inFlight: number;
  readonly retriesWaiting: number;
  readonly sent: number;
  readonly failed: number;
  readonly dead: number;
};

export type ChannelActorOptions = {
  readonly channel: Channel;
  readonly delivery: DeliveryDeps;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Most deliveries in flight at once. */
  readonly window: number;
  /** Wait before trying a message again after the store failed under it. */
  readonly storeRetryMs: number;
  readonly onOutcome?: (channel: Channel, outcome: DeliveryOutcome) => void;
};

/**
 * The channel's working state. It outlives restarts of the actor: the ids it holds and the deliveries
 * in flight are real work that a restart must not drop.
 */
class ChannelState {
  readonly queue: string[] = [];
  readonly queuedIds = new Set<string>();
  readonly inFlight = new Set<string>();
  readonly timers = new Map<string, TimerHandle>();
  sent = 0;
  failed = 0;
  dead = 0;
  #idle: Array<() => void> = [];

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
  readonly #state = new ChannelState();
  readonly #options: ChannelActorOptions;
  readonly #system: ActorSystem;
  #accepting = true;

  constructor(system: ActorSystem, parent: AnyActorRef, options: ChannelActorOptions) {
    this.channel = options.channel;
    this.#options = options;
    this.#system = system;
    const behavior: ActorBehavior<ChannelState, ChannelMessage> = {
      kind: 'channel',
      init: () => this.#state,
      receive: (state, message, context) => this.#handle(state, message, context),
      gauges: () => {
        const stats = this.stats();
        return {
          provider: stats.provider,
          queued: stats.queued,
          inFlight: stats.inFlight,
          retriesWaiting: stats.retriesWaiting,
          sent: stats.sent,
          failed: stats.failed,
          dead: stats.dead,
        };
      },
    };
    this.ref = system.spawn(parent, options.channel, behavior);
  }

  deliver(messageId: string): void {
    this.#system.dispatch(this.ref, { type: 'deliver', messageId });
  }

  stats(): ChannelStats {
    const s = this.#state;
    return {
      channel: this.channel,
      provider: this.#options.delivery.provider.name,
      queued: s.queue.length,
      inFlight: s.inFlight.size,
      retriesWaiting: s.timers.size,
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
    await this.#state.whenIdle();
  }

  #handle(state: ChannelState, message: ChannelMessage, context: ActorContext<ChannelMessage>): ChannelState {
    switch (message.type) {
      case 'deliver':
        if (!message.retry && state.timers.has(message.messageId)) break;
        state.timers.delete(message.messageId);
        if (this.#accepting && !state.queuedIds.has(message.messageId) && !state.inFlight.has(message.messageId)) {
          state.queue.push(message.messageId);
          state.queuedIds.add(message.messageId);
        }
        break;
      case 'record':
        state.timers.delete(message.messageId);
        if (!this.#accepting || state.inFlight.has(message.messageId)) break;
        state.inFlight.add(message.messageId);
        this.#track(
          recordSent(this.#options.delivery.store, message.messageId, message.provider),
          message.messageId,
          context,
          {
            kind: 'unrecorded',
            providerAccepted: true,
            provider: message.provider,
          },
        );
        break;
      case 'settled':
        state.inFlight.delete(message.messageId);
        this.#settle(state, message.messageId, message.outcome, context);
        state.notifyIfIdle();
        break;
    }
    this.#pump(state, context);
    return state;
  }

  #pump(state: ChannelState, context: ActorContext<ChannelMessage>): void {
    while (this.#accepting && state.inFlight.size < this.#options.window) {
      const messageId = state.queue.shift();
      if (messageId === undefined) return;
      state.queuedIds.delete(messageId);
      state.inFlight.add(messageId);
      this.#track(attemptDelivery(this.#options.delivery, messageId), messageId, context, {
        kind: 'unrecorded',
        providerAccepted: false,
      });
    }
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
        this.#later(state, { type: 'deliver', messageId, retry: true }, outcome.delayMs, context);
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
            : { type: 'deliver', messageId, retry: true },
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
