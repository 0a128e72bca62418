// One actor per recipient (sharded, passivated when idle, state in snapshots): every message for the
// recipient passes through it on its way to the channel, so per-recipient policy has one home. The
// actor takes a message by moving it accepted → queued with the recipient's next sequence number, and
// counts it only once that is committed; so its state is always its latest snapshot plus its messages
// after the snapshot's sequence, and is rebuilt exactly after a crash.
import type { ActorBehavior, ReplyTo } from '../../runtime/kernel/ActorRef.ts';
import type { EntityRegistry } from '../../runtime/kernel/EntityRegistry.ts';
import { IllegalTransitionError } from '../../runtime/messages/messageState.ts';
import type { Channel, Priority } from '../../runtime/messages/sendRequest.ts';

/** The RecipientActor's protocol. */
export type RecipientMessage =
  | { readonly type: 'deliver'; readonly messageId: string; readonly channel: Channel; readonly priority: Priority }
  | { readonly type: 'inspect'; readonly replyTo: ReplyTo<RecipientState> };

/** Schema version of recipient snapshots; the snapshot store upgrades older ones. */
export const RECIPIENT_STATE_VERSION = 1;

export type RecipientState = {
  /** The recipient's sequence number of the last message it took. */
  readonly sequence: number;
  readonly byChannel: Readonly<Partial<Record<Channel, number>>>;
  /** When the last message it took was accepted. */
  readonly lastMessageAt: string | null;
  /** The sequence of the snapshot this state was loaded from; unchanged state is not written again. */
  readonly savedSequence: number;
};

/** One message the recipient has taken, as the fold needs it. */
export type TakenMessage = { readonly recipientSeq: number; readonly channel: Channel; readonly createdAt: string };

/** Where recipient snapshots live (the snapshot store, or a stand-in in unit tests). */
export interface RecipientSnapshots {
  load(key: string): Promise<{ readonly sequence: number; readonly state: unknown } | null>;
  save(key: string, sequence: number, state: unknown): Promise<void>;
}

export type RecipientDeps = {
  readonly snapshots: RecipientSnapshots;
  /** Moves the message accepted → queued with the recipient's sequence number; resolves once committed. */
  readonly take: (
    messageId: string,
    recipientSeq: number,
  ) => Promise<{ readonly createdAt: string; readonly priority: Priority }>;
  /** The recipient's messages with a sequence above `afterSeq`, in order. */
  readonly takenAfter: (key: string, afterSeq: number) => Promise<readonly TakenMessage[]>;
  /** Hands a taken message to its channel. */
  readonly deliver: (channel: Channel, messageId: string, priority: Priority) => void;
  /** The registry the actors belong to; it tells each actor its recipient key (`tenant:recipientId`). */
  readonly registry: () => EntityRegistry<RecipientState, RecipientMessage>;
};

export const EMPTY_RECIPIENT: RecipientState = { sequence: 0, byChannel: {}, lastMessageAt: null, savedSequence: 0 };

/** Persistence key of a recipient's snapshots. */
export const recipientSnapshotKey = (key: string): string => `recipient:${key}`;

/** The state after taking one more message. */
export function fold(state: RecipientState, message: TakenMessage): RecipientState {
  return {
    ...state,
    sequence: message.recipientSeq,
    byChannel: { ...state.byChannel, [message.channel]: (state.byChannel[message.channel] ?? 0) + 1 },
    lastMessageAt: message.createdAt,
  };
}

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
      const key = deps.registry().keyOf(context);
      const snapshot = fromSnapshot(await deps.snapshots.load(recipientSnapshotKey(key)));
      const after = await deps.takenAfter(key, snapshot.sequence);
      return after.reduce(fold, snapshot);
    },
    async receive(state, message) {
      switch (message.type) {
        case 'deliver': {
          const recipientSeq = state.sequence + 1;
          let taken: { readonly createdAt: string; readonly priority: Priority };
          try {
            taken = await deps.take(message.messageId, recipientSeq);
          } catch (error) {
            if (!(error instanceof IllegalTransitionError)) throw error;
            // Taken before (recovery or the backlog sent it again): not counted twice. If it is still on
            // its way, the channel takes it (and drops it when it already has it).
            if (error.from === 'queued' || error.from === 'sending') {
              deps.deliver(message.channel, message.messageId, message.priority);
            }
            return state;
          }
          deps.deliver(message.channel, message.messageId, taken.priority);
          return fold(state, { recipientSeq, channel: message.channel, createdAt: taken.createdAt });
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
