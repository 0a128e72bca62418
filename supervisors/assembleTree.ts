// Builds the actor tree of ARCHITECTURE §2 from config, in one place:
//   /switchboard ─ bridges/ · channels/{email,sms,push,webhook} · recipients/shard-NN/r:<key> · campaigns/
import path from 'node:path';
import { type ChannelActor as ChannelActorType, ChannelActor } from '../actors/channel/ChannelActor.ts';
import type { DeliveryOutcome, RetryPolicy } from '../actors/channel/attemptDelivery.ts';
import { DevOutboxProvider } from '../actors/provider/outbox/DevOutboxProvider.ts';
import type { Provider } from '../actors/provider/Provider.ts';
import { SmtpProvider } from '../actors/provider/smtp/SmtpProvider.ts';
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
import { CHANNELS, type Channel } from '../runtime/messages/sendRequest.ts';
import type { Clock } from '../runtime/time/Clock.ts';
import { restartWithBackoff } from './SupervisionStrategy.ts';

export type ActorTree = {
  readonly system: ActorSystem;
  readonly channels: ReadonlyMap<Channel, ChannelActorType>;
  readonly recipients: EntityRegistry<RecipientState, RecipientMessage>;
  readonly devOutbox: DevOutboxProvider;
  /**
   * Routes a message: an accepted one through its recipient's actor, one the recipient has already
   * taken (`queued`, or `sending` when recovered) straight to its channel.
   */
  deliver(message: {
    readonly id: string;
    readonly channel: Channel;
    readonly tenant: string;
    readonly recipientId: string;
    readonly state?: MessageState;
  }): void;
  /** Flushes recipients, waits for in-flight deliveries, closes providers and stops every actor. */
  stop(): Promise<void>;
};

export type AssembleTreeOptions = {
  readonly config: Config;
  readonly store: MessageStore;
  readonly snapshots: RecipientSnapshots;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly retry: RetryPolicy;
  readonly random?: () => number;
  readonly onOutcome?: (channel: Channel, outcome: DeliveryOutcome) => void;
  readonly onPossibleDuplicate?: (message: StoredMessage) => void;
};

/** A supervisor only parents; it never handles per-message traffic. */
const SUPERVISOR: ActorBehavior<null, never> = { kind: 'supervisor', init: () => null, receive: (state) => state };

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

  supervisor('bridges');
  const channelsGroup = supervisor('channels');
  const recipientsGroup = supervisor('recipients');
  supervisor('campaigns');

  const devOutbox = new DevOutboxProvider({ dir: path.join(config.dataDir, 'outbox') });
  const providers = new Map<Channel, Provider>();
  for (const channel of CHANNELS) providers.set(channel, devOutbox);
  if (config.smtpUrl) providers.set('email', new SmtpProvider({ url: config.smtpUrl, from: config.emailFrom }));

  const channels = new Map<Channel, ChannelActor>();
  for (const [channel, provider] of providers) {
    channels.set(
      channel,
      new ChannelActor(system, channelsGroup, {
        channel,
        clock,
        logger: logger.child({ actor: `channels/${channel}` }),
        window: 32,
        storeRetryMs: 5_000,
        delivery: {
          store: options.store,
          provider,
          retry: options.retry,
          ...(options.random ? { random: options.random } : {}),
          ...(options.onPossibleDuplicate ? { onPossibleDuplicate: options.onPossibleDuplicate } : {}),
        },
        ...(options.onOutcome ? { onOutcome: options.onOutcome } : {}),
      }),
    );
  }
  const deliverToChannel = (channel: Channel, messageId: string): void => {
    const actor = channels.get(channel);
    if (actor === undefined) throw new Error(`no actor for channel ${channel}`);
    actor.deliver(messageId);
  };

  const recipients: EntityRegistry<RecipientState, RecipientMessage> = new EntityRegistry({
    system,
    parent: recipientsGroup,
    shards: config.recipients.shards,
    prefix: 'r',
    idleMs: config.recipients.idleMs,
    behavior: recipientBehavior({
      snapshots: options.snapshots,
      take: (messageId, recipientSeq) => options.store.transition(messageId, 'queued', { recipientSeq }),
      takenAfter: (key, afterSeq) => {
        const { tenant, recipientId } = splitRecipientKey(key);
        return options.store.recipientMessagesAfter(tenant, recipientId, afterSeq);
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
    devOutbox,
    deliver(message) {
      if (message.state === 'queued' || message.state === 'sending') {
        deliverToChannel(message.channel, message.id);
        return;
      }
      recipients.tell(recipientKey(message.tenant, message.recipientId), {
        type: 'deliver',
        messageId: message.id,
        channel: message.channel,
      });
    },
    stop() {
      stopped ??= (async () => {
        await recipients.close();
        await Promise.all([...channels.values()].map((actor) => actor.drain()));
        await Promise.all([...new Set(providers.values())].map((provider) => provider.close()));
        await system.shutdown();
      })();
      return stopped;
    },
  };
}
