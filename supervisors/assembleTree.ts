// Builds the actor tree of ARCHITECTURE §2 from config, in one place: the root and its `channels`
// group with one ChannelActor per channel, each over the provider chosen for it.
import path from 'node:path';
import type { DeliveryOutcome, RetryPolicy } from '../actors/channel/attemptDelivery.ts';
import { ChannelActor } from '../actors/channel/ChannelActor.ts';
import { DevOutboxProvider } from '../actors/provider/outbox/DevOutboxProvider.ts';
import type { Provider } from '../actors/provider/Provider.ts';
import { SmtpProvider } from '../actors/provider/smtp/SmtpProvider.ts';
import type { Config } from '../runtime/config/loadConfig.ts';
import { ActorSystem } from '../runtime/kernel/ActorSystem.ts';
import type { Logger } from '../runtime/logging/createLogger.ts';
import type { MessageStore, StoredMessage } from '../runtime/messages/MessageStore.ts';
import { CHANNELS, type Channel } from '../runtime/messages/sendRequest.ts';
import type { Clock } from '../runtime/time/Clock.ts';

export type ActorTree = {
  readonly system: ActorSystem;
  readonly channels: ReadonlyMap<Channel, ChannelActor>;
  readonly devOutbox: DevOutboxProvider;
  /** Stops intake, waits for in-flight deliveries, closes providers and the actor system. */
  stop(): Promise<void>;
};

export type AssembleTreeOptions = {
  readonly config: Config;
  readonly store: MessageStore;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly retry: RetryPolicy;
  readonly random?: () => number;
  readonly onOutcome?: (channel: Channel, outcome: DeliveryOutcome) => void;
  readonly onPossibleDuplicate?: (message: StoredMessage) => void;
};

export function assembleTree(options: AssembleTreeOptions): ActorTree {
  const { config, logger } = options;
  const system = ActorSystem.start('switchboard');
  const devOutbox = new DevOutboxProvider({ dir: path.join(config.dataDir, 'outbox') });
  const providers = new Map<Channel, Provider>();
  for (const channel of CHANNELS) providers.set(channel, devOutbox);
  if (config.smtpUrl) providers.set('email', new SmtpProvider({ url: config.smtpUrl, from: config.emailFrom }));

  const channelsGroup = system.spawnGroup(system.root, 'channels');
  const channels = new Map<Channel, ChannelActor>();
  for (const [channel, provider] of providers) {
    channels.set(
      channel,
      new ChannelActor(system, channelsGroup, {
        channel,
        clock: options.clock,
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

  let stopped: Promise<void> | undefined;
  return {
    system,
    channels,
    devOutbox,
    stop() {
      stopped ??= (async () => {
        await Promise.all([...channels.values()].map((actor) => actor.drain()));
        await Promise.all([...new Set(providers.values())].map((provider) => provider.close()));
        system.stop();
      })();
      return stopped;
    },
  };
}
