// The recipient's policy decision for one accepted message (ARCHITECTURE §3 step 3): wait for its
// sendAt, refuse it (suppression list, frequency cap, duplicate content), hold marketing through quiet
// hours, or take it. Pure: the actor hands in its state, the message's facts and the clock's time.
import type { Channel, Priority } from '../messages/sendRequest.ts';
import { duplicateRefusal } from './contentDedupe.ts';
import { capKey, type FrequencyCaps, frequencyCapRefusal } from './frequencyCap.ts';
import { type QuietHours, isTimeZone, quietHoursEnd } from './quietHours.ts';
import type { RecipientHistory } from './recipientHistory.ts';
import { type Suppression, suppressionRefusal } from './suppression.ts';

/** The per-recipient policy, from config. */
export type RecipientPolicy = {
  readonly frequencyCaps: FrequencyCaps;
  /** 0 turns content dedupe off. */
  readonly dedupeWindowMs: number;
  /** null: no quiet hours. */
  readonly quietHours: QuietHours | null;
  /** The zone of recipients whose sends name none (`to.timeZone`). */
  readonly defaultTimeZone: string;
};

export type PolicyInput = {
  readonly channel: Channel;
  readonly priority: Priority;
  /** Not before this instant (epoch ms); null to send now. */
  readonly sendAt: number | null;
  readonly contentHash: string | null;
  /** The recipient's IANA zone, null for the default. */
  readonly timeZone: string | null;
  readonly suppressions: readonly Suppression[];
  readonly history: RecipientHistory;
  readonly now: number;
};

export type PolicyDecision =
  /** Not due yet: left accepted; the scheduler routes it again at `dueAt`. */
  | { readonly kind: 'wait'; readonly dueAt: number }
  /** Marketing in quiet hours: left accepted with its sendAt moved to `until`. */
  | { readonly kind: 'hold'; readonly until: number }
  | { readonly kind: 'suppress'; readonly reason: string }
  | { readonly kind: 'take' };

/** Checks, in order: sendAt, the suppression list, quiet hours (marketing only), the frequency cap, dedupe. */
export function decidePolicy(policy: RecipientPolicy, input: PolicyInput): PolicyDecision {
  const { now } = input;
  if (input.sendAt !== null && input.sendAt > now) return { kind: 'wait', dueAt: input.sendAt };

  const suppressed = suppressionRefusal(input.suppressions, input.channel);
  if (suppressed !== null) return { kind: 'suppress', reason: suppressed };

  if (policy.quietHours !== null && input.priority === 'marketing') {
    const zone = input.timeZone !== null && isTimeZone(input.timeZone) ? input.timeZone : policy.defaultTimeZone;
    const until = quietHoursEnd(policy.quietHours, zone, now);
    if (until !== null) return { kind: 'hold', until };
  }

  const capped = frequencyCapRefusal(
    policy.frequencyCaps,
    input.priority,
    input.channel,
    input.history.taken[capKey(input.priority, input.channel)] ?? [],
    now,
  );
  if (capped !== null) return { kind: 'suppress', reason: capped };

  const duplicate = duplicateRefusal(input.history.content, input.contentHash, policy.dedupeWindowMs, now);
  if (duplicate !== null) return { kind: 'suppress', reason: duplicate };

  return { kind: 'take' };
}
