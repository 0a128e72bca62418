// One actor per recipient (sharded, passivated when idle, state in snapshots): every message for the
// recipient passes through it on its way to the channel, so per-recipient policy has one home. For
// each accepted message it reads the message's facts and decides (runtime/policy/decidePolicy.ts):
// not yet due → left accepted for the scheduler; refused (suppression list, frequency cap, duplicate
// content) → suppressed with the reason; marketing in quiet hours → held (left accepted, sendAt moved
// to the end of quiet hours); otherwise taken, by moving it accepted → queued with the recipient's
// next sequence number and the time it was taken. It counts a message only once that is committed, so
// its state (counters, the send times its caps count, the content hashes dedupe looks for) is always
// its latest snapshot plus its messages after the snapshot's sequence, and is rebuilt exactly after a crash.
import type { ActorBehavior, ReplyTo } from '../../runtime/kernel/ActorRef.ts';
import type { EntityRegistry } from '../../runtime/kernel/EntityRegistry.ts';
import { IllegalTransitionError } from '../../runtime/messages/messageState.ts';
import type { Channel, Priority } from '../../runtime/messages/sendRequest.ts';
import { decidePolicy, type RecipientPolicy } from '../../runtime/policy/decidePolicy.ts';
import type { PolicyFacts } from '../../runtime/policy/policyFacts.ts';
import { EMPTY_HISTORY, type RecipientHistory, recordTaken } from '../../runtime/policy/recipientHistory.ts';
import { applySuppressionChange, type Suppression, type SuppressionChange } from '../../runtime/policy/suppression.ts';
import type { SnapshotUpgrades } from '../../runtime/persistence/upgradeSnapshot.ts';
import type { Clock } from '../../runtime/time/Clock.ts';

/** The RecipientActor's protocol. */
export type RecipientMessage =
  | { readonly type: 'deliver'; readonly messageId: string; readonly channel: Channel; readonly priority: Priority }
  /** The recipient's suppression list changed (told after the change committed). */
  | { readonly type: 'suppressions'; readonly change: SuppressionChange }
  | { readonly type: 'inspect'; readonly replyTo: ReplyTo<RecipientState> };

/** Schema version of recipient snapshots; the snapshot store upgrades older ones. */
export const RECIPIENT_STATE_VERSION = 2;

/** Version 1 had no policy history: it starts empty. */
export const RECIPIENT_STATE_UPGRADES: SnapshotUpgrades = {
  1: (state) => ({ ...(state as object), history: EMPTY_HISTORY }),
};

export type RecipientState = {
  /** The recipient's sequence number of the last message it took. */
  readonly sequence: number;
  readonly byChannel: Readonly<Partial<Record<Channel, number>>>;
  /** When the last message it took was accepted. */
  readonly lastMessageAt: string | null;
  /** What its frequency caps and content dedupe remember of the messages it took. */
  readonly history: RecipientHistory;
  /** Its suppression list: loaded at activation, kept current by the suppression API; not in snapshots. */
  readonly suppressions: readonly Suppression[];
  /** The sequence of the snapshot this state was loaded from; unchanged state is not written again. */
  readonly savedSequence: number;
};

/** One message the recipient has taken, as the fold needs it. */
export type TakenMessage = {
  readonly recipientSeq: number;
  readonly channel: Channel;
  readonly priority: Priority;
  readonly createdAt: string;
  /** When the recipient took it (epoch ms). */
  readonly takenAt: number;
  readonly contentHash: string | null;
};

/** Where recipient snapshots live (the snapshot store, or a stand-in in unit tests). */
export interface RecipientSnapshots {
  load(key: string): Promise<{ readonly sequence: number; readonly state: unknown } | null>;
  save(key: string, sequence: number, state: unknown): Promise<void>;
}

export type RecipientDeps = {
  readonly snapshots: RecipientSnapshots;
  readonly clock: Clock;
  readonly policy: RecipientPolicy;
  /** What the policy needs of a message; null when there is no such message. */
  readonly facts: (messageId: string) => Promise<PolicyFacts | null>;
  /** Moves the message accepted → queued with the recipient's sequence number; resolves once committed. */
  readonly take: (
    messageId: string,
    recipientSeq: number,
    takenAt: number,
  ) => Promise<{ readonly createdAt: string; readonly priority: Priority }>;
  /** Moves the message to `suppressed` with the reason (the message's last error and delivery event). */
  readonly suppress: (messageId: string, reason: string) => Promise<void>;
  /** Leaves the message accepted with its sendAt moved to `until`; resolves once committed. */
  readonly hold: (messageId: string, until: number) => Promise<void>;
  /** The recipient's messages with a sequence above `afterSeq`, in order. */
  readonly takenAfter: (key: string, afterSeq: number) => Promise<readonly TakenMessage[]>;
  /** The recipient's suppression list. */
  readonly suppressions: (key: string) => Promise<readonly Suppression[]>;
  /** Hands a taken message to its channel. */
  readonly deliver: (channel: Channel, messageId: string, priority: Priority) => void;
  /** The registry the actors belong to; it tells each actor its recipient key (`tenant:recipientId`). */
  readonly registry: () => EntityRegistry<RecipientState, RecipientMessage>;
};

export const EMPTY_RECIPIENT: RecipientState = {
  sequence: 0,
  byChannel: {},
  lastMessageAt: null,
  history: EMPTY_HISTORY,
  suppressions: [],
  savedSequence: 0,
};

/** Persistence key of a recipient's snapshots. */
export const recipientSnapshotKey = (key: string): string => `recipient:${key}`;

/** The state after taking one more message, under `policy` (which says what the history keeps). */
export function fold(policy: RecipientPolicy, state: RecipientState, message: TakenMessage): RecipientState {
  return {
    ...state,
    sequence: message.recipientSeq,
    byChannel: { ...state.byChannel, [message.channel]: (state.byChannel[message.channel] ?? 0) + 1 },
    lastMessageAt: message.createdAt,
    history: recordTaken(state.history, policy, message),
  };
}

/** The part of the state a snapshot holds. */
type StoredRecipient = Pick<RecipientState, 'byChannel' | 'lastMessageAt' | 'history'>;

function fromSnapshot(snapshot: { sequence: number; state: unknown } | null): RecipientState {
  if (snapshot === null) return EMPTY_RECIPIENT;
  const stored = snapshot.state as Partial<StoredRecipient>;
  return {
    sequence: snapshot.sequence,
    byChannel: stored.byChannel ?? {},
    lastMessageAt: stored.lastMessageAt ?? null,
    history: stored.history ?? EMPTY_HISTORY,
    suppressions: [],
    savedSequence: snapshot.sequence,
  };
}

/** The behaviour shared by every recipient actor. */
export function recipientBehavior(deps: RecipientDeps): ActorBehavior<RecipientState, RecipientMessage> {
  const { policy } = deps;

  /**
   * Moves the message accepted → queued, taken at `takenAt` (the time the policy decided at), and
   * counts it; a message taken before is only passed on.
   */
  async function takeMessage(
    state: RecipientState,
    message: { messageId: string; channel: Channel },
    facts: PolicyFacts,
    takenAt: number,
  ): Promise<RecipientState> {
    const recipientSeq = state.sequence + 1;
    let taken: { readonly createdAt: string; readonly priority: Priority };
    try {
      taken = await deps.take(message.messageId, recipientSeq, takenAt);
    } catch (error) {
      if (!(error instanceof IllegalTransitionError)) throw error;
      forwardIfOnItsWay(message, facts.priority, error.from);
      return state;
    }
    deps.deliver(message.channel, message.messageId, taken.priority);
    return fold(policy, state, {
      recipientSeq,
      channel: message.channel,
      priority: taken.priority,
      createdAt: taken.createdAt,
      takenAt,
      contentHash: facts.contentHash,
    });
  }

  /**
   * Taken before (recovery or the backlog sent it again): not counted twice. If it is still on its way,
   * the channel takes it (and drops it when it already has it).
   */
  function forwardIfOnItsWay(
    message: { messageId: string; channel: Channel },
    priority: Priority,
    state: string | undefined,
  ): void {
    if (state === 'queued' || state === 'sending') deps.deliver(message.channel, message.messageId, priority);
  }

  /** Applies the policy to one accepted message: wait, hold, suppress or take it. */
  async function handleDeliver(
    state: RecipientState,
    message: { messageId: string; channel: Channel },
  ): Promise<RecipientState> {
    const facts = await deps.facts(message.messageId);
    if (facts === null) return state;
    if (facts.state !== 'accepted') {
      forwardIfOnItsWay(message, facts.priority, facts.state);
      return state;
    }
    const now = deps.clock.now();
    const decision = decidePolicy(policy, {
      channel: facts.channel,
      priority: facts.priority,
      sendAt: facts.sendAt,
      contentHash: facts.contentHash,
      timeZone: facts.timeZone,
      suppressions: state.suppressions,
      history: state.history,
      now,
    });
    switch (decision.kind) {
      case 'wait':
        // Not due: the scheduler routes it again when it is (no timer here).
        return state;
      case 'hold':
        await deps.hold(message.messageId, decision.until);
        return state;
      case 'suppress':
        try {
          await deps.suppress(message.messageId, decision.reason);
        } catch (error) {
          // Someone else moved it meanwhile (an operator); nothing to refuse any more.
          if (!(error instanceof IllegalTransitionError)) throw error;
        }
        return state;
      case 'take':
        return takeMessage(state, message, facts, now);
    }
  }

  return {
    kind: 'recipient',
    async init(context) {
      const key = deps.registry().keyOf(context);
      const [snapshot, suppressions] = await Promise.all([
        deps.snapshots.load(recipientSnapshotKey(key)).then(fromSnapshot),
        deps.suppressions(key),
      ]);
      const after = await deps.takenAfter(key, snapshot.sequence);
      return { ...after.reduce((state, taken) => fold(policy, state, taken), snapshot), suppressions };
    },
    async receive(state, message) {
      switch (message.type) {
        case 'deliver':
          return handleDeliver(state, message);
        case 'suppressions':
          return { ...state, suppressions: applySuppressionChange(state.suppressions, message.change) };
        case 'inspect':
          message.replyTo.reply(state);
          return state;
      }
    },
    async onStop(state, context) {
      if (state.sequence === state.savedSequence) return;
      const { byChannel, lastMessageAt, history } = state;
      const stored: StoredRecipient = { byChannel, lastMessageAt, history };
      await deps.snapshots.save(recipientSnapshotKey(deps.registry().keyOf(context)), state.sequence, stored);
    },
    gauges: (state) => ({ sequence: state.sequence, lastMessageAt: state.lastMessageAt }),
  };
}
