// Builds the actor tree of ARCHITECTURE §2 from config, in one place:
//   /switchboard ─ bridges/
//                ─ channels/{email,sms,push,webhook}/<provider connections, in failover order>
//                ─ recipients/shard-NN/r:<tenant>:<recipient>
//                ─ campaigns/
import path from 'node:path';
import type { DeliveryOutcome, RetryPolicy } from '../actors/channel/attemptDelivery.ts';
import { ChannelActor } from '../actors/channel/ChannelActor.ts';
import { ChannelBacklog } from '../actors/channel/ChannelBacklog.ts';
import { DevOutboxProvider } from '../actors/provider/outbox/DevOutboxProvider.ts';
import { ProviderConnection } from '../actors/provider/ProviderConnection.ts';
import {
  type RecipientMessage,
  type RecipientSnapshots,
  type RecipientState,
  recipientBehavior,
} from '../actors/recipient/RecipientActor.ts';
import type { Config } from '../runtime/config/loadConfig.ts';
import type { ActorBehavior, ActorRef } from '../runtime/kernel/ActorRef.ts';
import { ActorSystem } from '../runtime/kernel/ActorSystem.ts';
import { EntityRegistry } from '../runtime/kernel/EntityRegistry.ts';
import type { Logger } from '../runtime/logging/createLogger.ts';
import type { MessageState } from '../runtime/messages/messageState.ts';
import type { MessageStore, StoredMessage } from '../runtime/messages/MessageStore.ts';
import { CHANNELS, type Channel, type Priority } from '../runtime/messages/sendRequest.ts';
import type { SuppressionChange } from '../runtime/policy/suppression.ts';
import type { SuppressionStore } from '../runtime/policy/SuppressionStore.ts';
import type { TemplateStore } from '../runtime/templates/TemplateStore.ts';
import type { Clock } from '../runtime/time/Clock.ts';
import { createProvider } from './createProvider.ts';
import { restartWithBackoff } from './SupervisionStrategy.ts';

/** A message to route: accepted ones go through their recipient, taken ones straight to their channel. */
export type RoutedMessage = {
  readonly id: string;
  readonly channel: Channel;
  readonly tenant: string;
  readonly recipientId: string;
  readonly priority: Priority;
  readonly state?: MessageState;
};

export type ActorTree = {
  readonly system: ActorSystem;
  readonly channels: ReadonlyMap<Channel, ChannelActor>;
  readonly recipients: EntityRegistry<RecipientState, RecipientMessage>;
  readonly backlog: ChannelBacklog;
  readonly devOutbox: DevOutboxProvider;
  /** The supervisor the bridges hang under. */
  readonly bridges: ActorRef<never>;
  /** Stops the bridges (the broker sources) after the records in hand. */
  stopBridges(): Promise<void>;
  /** The supervisor the campaign actors hang under. */
  readonly campaigns: ActorRef<never>;
  /**
   * Routes a message: an accepted one through its recipient's actor, one the recipient has already
   * taken (`queued`, or `sending` when recovered) straight to its channel.
   */
  deliver(message: RoutedMessage): void;
  /**
   * Tells a live recipient actor that its suppression list changed (after the change committed), so
   * the next message sees it; an actor not in memory reads its list when it activates.
   */
  suppressionChanged(tenant: string, recipientId: string, change: SuppressionChange): void;
  /** Flushes recipients, waits for in-flight deliveries, closes providers and stops every actor. */
  stop(): Promise<void>;
};

export type AssembleTreeOptions = {
  readonly config: Config;
  readonly store: MessageStore;
  readonly snapshots: RecipientSnapshots;
  readonly suppressions: Pick<SuppressionStore, 'forRecipient'>;
  readonly templates: TemplateStore;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly retry: RetryPolicy;
  readonly random?: () => number;
  readonly onOutcome?: (channel: Channel, outcome: DeliveryOutcome) => void;
  readonly onPossibleDuplicate?: (message: StoredMessage) => void;
};

/** A supervisor only parents; it never handles per-message traffic. */
const SUPERVISOR: ActorBehavior<null, never> = { kind: 'supervisor', init: () => null, receive: (state) => state };

const TERMINAL_OUTCOMES: ReadonlySet<DeliveryOutcome['kind']> = new Set(['sent', 'failed', 'dead']);

/** The recipient key: recipients are per tenant. Tenant names never contain `:`. */
export const recipientKey = (tenant: string, recipientId: string): string => `${tenant}:${recipientId}`;

export function splitRecipientKey(key: string): { tenant: string; recipientId: string } {
  const colon = key.indexOf(':');
  return { tenant: key.slice(0, colon), recipientId: key.slice(colon + 1) };
}

export function assembleTree(options: AssembleTreeOptions): ActorTree {
  const { config, logger, clock } = options;
  const system = new ActorSystem({
    name: 'switchboard',
    clock,
    logger: logger.child({ component: 'actors' }),
    ...(options.random ? { random: options.random } : {}),
  });
  const oneForOne = restartWithBackoff({
    backoff: { minMs: 200, maxMs: 30_000 },
    intensity: { maxRestarts: 10, withinMs: 60_000 },
  });
  const supervisor = (name: string): ActorRef<never> =>
    system.spawn(system.root, name, SUPERVISOR, { childSupervision: oneForOne });

  const bridges = supervisor('bridges');
  const channelsGroup = supervisor('channels');
  const recipientsGroup = supervisor('recipients');
  const campaigns = supervisor('campaigns');

  const backlog = new ChannelBacklog({
    limit: config.channels.backlogLimit,
    onListenerError: (error, channel) => logger.error({ err: error, channel }, 'a backlog pressure listener failed'),
  });
  const devOutbox = new DevOutboxProvider({ dir: path.join(config.dataDir, 'outbox') });
  const providerContext = {
    emailFrom: config.emailFrom,
    devOutbox,
    aws: { region: config.aws.region, snsEndpoint: config.aws.snsEndpoint },
  };

  const channels = new Map<Channel, ChannelActor>();
  for (const channel of CHANNELS) {
    const channelLogger = logger.child({ actor: `channels/${channel}` });
    channels.set(
      channel,
      new ChannelActor(system, channelsGroup, {
        channel,
        store: options.store,
        clock,
        logger: channelLogger,
        queueCapacity: config.channels.queueCapacity,
        storeRetryMs: 5_000,
        delivery: {
          store: options.store,
          templates: options.templates,
          retry: options.retry,
          ...(options.random ? { random: options.random } : {}),
          ...(options.onPossibleDuplicate ? { onPossibleDuplicate: options.onPossibleDuplicate } : {}),
        },
        connections: (parent) =>
          config.providers[channel].map(
            (spec) =>
              new ProviderConnection(system, parent, {
                name: spec.name,
                createProvider: () => createProvider(spec, providerContext),
                breaker: { timeoutMs: spec.timeoutMs, ...spec.breaker },
                rate: spec.rate,
                window: spec.window,
                clock,
                logger: channelLogger,
              }),
          ),
        onOutcome: (outcomeChannel, outcome) => {
          if (TERMINAL_OUTCOMES.has(outcome.kind)) backlog.finished(outcomeChannel);
          options.onOutcome?.(outcomeChannel, outcome);
        },
      }),
    );
  }
  const deliverToChannel = (channel: Channel, messageId: string, priority: Priority): void => {
    const actor = channels.get(channel);
    if (actor === undefined) throw new Error(`no actor for channel ${channel}`);
    actor.deliver(messageId, priority);
  };

  const recipients: EntityRegistry<RecipientState, RecipientMessage> = new EntityRegistry({
    system,
    parent: recipientsGroup,
    shards: config.recipients.shards,
    prefix: 'r',
    idleMs: config.recipients.idleMs,
    maxLive: config.recipients.maxLive,
    behavior: recipientBehavior({
      snapshots: options.snapshots,
      clock,
      policy: config.policy,
      facts: (messageId) => options.store.policyFacts(messageId),
      take: (messageId, recipientSeq, takenAt) =>
        options.store.transition(messageId, 'queued', { recipientSeq, takenAt }),
      suppress: async (messageId, reason) => {
        const suppressed = await options.store.transition(messageId, 'suppressed', { error: reason });
        backlog.finished(suppressed.channel);
      },
      hold: async (messageId, until) => {
        await options.store.hold(messageId, until, `held for quiet hours until ${new Date(until).toISOString()}`);
      },
      takenAfter: (key, afterSeq) => {
        const { tenant, recipientId } = splitRecipientKey(key);
        return options.store.recipientMessagesAfter(tenant, recipientId, afterSeq);
      },
      suppressions: (key) => {
        const { tenant, recipientId } = splitRecipientKey(key);
        return options.suppressions.forRecipient(tenant, recipientId);
      },
      deliver: deliverToChannel,
      registry: () => recipients,
    }),
  });

  let stopped: Promise<void> | undefined;
  return {
    system,
    channels,
    recipients,
    backlog,
    devOutbox,
    bridges,
    stopBridges: () => system.stop(bridges),
    campaigns,
    deliver(message) {
      if (message.state === 'queued' || message.state === 'sending') {
        deliverToChannel(message.channel, message.id, message.priority);
        return;
      }
      recipients.tell(recipientKey(message.tenant, message.recipientId), {
        type: 'deliver',
        messageId: message.id,
        channel: message.channel,
        priority: message.priority,
      });
    },
    suppressionChanged(tenant, recipientId, change) {
      const key = recipientKey(tenant, recipientId);
      if (recipients.isLive(key)) recipients.tell(key, { type: 'suppressions', change });
    },
    stop() {
      stopped ??= (async () => {
        // Sources first: nothing new comes in while the rest drains.
        await Promise.all([system.stop(bridges), system.stop(campaigns)]);
        await recipients.close();
        await Promise.all([...channels.values()].map((actor) => actor.drain()));
        await system.shutdown();
      })();
      return stopped;
    },
  };
}
