// One actor per recipient (sharded, passivated when idle, state in snapshots): every message for the
// recipient passes through it on its way to the channel, so per-recipient policy has one home.
import type { ActorBehavior, ReplyTo } from '../../runtime/kernel/ActorRef.ts';
import type { EntityRegistry } from '../../runtime/kernel/EntityRegistry.ts';
import type { Channel } from '../../runtime/messages/sendRequest.ts';

/** The RecipientActor's protocol. */
export type RecipientMessage =
  | { readonly type: 'deliver'; readonly messageId: string; readonly channel: Channel }
  | { readonly type: 'inspect'; readonly replyTo: ReplyTo<RecipientState> };

/** Schema version of recipient snapshots; the snapshot store upgrades older ones. */
export const RECIPIENT_STATE_VERSION = 1;

export type RecipientState = {
  /** Messages this recipient has taken, ever: the snapshot's sequence number. */
  readonly sequence: number;
  readonly byChannel: Readonly<Partial<Record<Channel, number>>>;
  readonly lastMessageAt: string | null;
  /** The sequence of the snapshot this state was loaded from; unchanged state is not written again. */
  readonly savedSequence: number;
};

/** Where recipient snapshots live (the snapshot store, or a stand-in in unit tests). */
export interface RecipientSnapshots {
  load(key: string): Promise<{ readonly sequence: number; readonly state: unknown } | null>;
  save(key: string, sequence: number, state: unknown): Promise<void>;
}

export type RecipientDeps = {
  readonly snapshots: RecipientSnapshots;
  readonly deliver: (channel: Channel, messageId: string) => void;
  readonly now: () => number;
  /** The registry the actors belong to; it tells each actor its recipient key (`tenant:recipientId`). */
  readonly registry: () => EntityRegistry<RecipientState, RecipientMessage>;
};

export const EMPTY_RECIPIENT: RecipientState = { sequence: 0, byChannel: {}, lastMessageAt: null, savedSequence: 0 };

/** Persistence key of a recipient's snapshots. */
export const recipientSnapshotKey = (key: string): string => `recipient:${key}`;

function fromSnapshot(snapshot: { sequence: number; state: unknown } | null): RecipientState {
  if (snapshot === null) return EMPTY_RECIPIENT;
  const stored = snapshot.state as Partial<RecipientState>;
  return {
    sequence: snapshot.sequence,
    byChannel: stored.byChannel ?? {},
    lastMessageAt: stored.lastMessageAt ?? null,
    savedSequence: snapshot.sequence,
  };
}

/** The behaviour shared by every recipient actor. */
export function recipientBehavior(deps: RecipientDeps): ActorBehavior<RecipientState, RecipientMessage> {
  return {
    kind: 'recipient',
    async init(context) {
      return fromSnapshot(await deps.snapshots.load(recipientSnapshotKey(deps.registry().keyOf(context))));
    },
    receive(state, message) {
      switch (message.type) {
        case 'deliver': {
          deps.deliver(message.channel, message.messageId);
          return {
            ...state,
            sequence: state.sequence + 1,
            byChannel: { ...state.byChannel, [message.channel]: (state.byChannel[message.channel] ?? 0) + 1 },
            lastMessageAt: new Date(deps.now()).toISOString(),
          };
        }
        case 'inspect':
          message.replyTo.reply(state);
          return state;
      }
    },
    async onStop(state, context) {
      if (state.sequence === state.savedSequence) return;
      const { byChannel, lastMessageAt } = state;
      await deps.snapshots.save(recipientSnapshotKey(deps.registry().keyOf(context)), state.sequence, {
        byChannel,
        lastMessageAt,
      });
    },
    gauges: (state) => ({ sequence: state.sequence, lastMessageAt: state.lastMessageAt }),
  };
}
