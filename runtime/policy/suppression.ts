// A recipient's suppression list as its actor holds it: entries for one channel or for all of them
// (channel null), and the refusal a matching entry gives.
import type { Channel } from '../messages/sendRequest.ts';

export type Suppression = { readonly channel: Channel | null; readonly reason: string | null };

/** A change to a recipient's list, told to its live actor after the change has committed. */
export type SuppressionChange =
  | { readonly kind: 'added'; readonly suppression: Suppression }
  | { readonly kind: 'removed'; readonly channel: Channel | null };

/** The list after a change; entries are keyed by channel, so applying a change twice changes nothing. */
export function applySuppressionChange(
  list: readonly Suppression[],
  change: SuppressionChange,
): readonly Suppression[] {
  const channel = change.kind === 'added' ? change.suppression.channel : change.channel;
  const others = list.filter((entry) => entry.channel !== channel);
  return change.kind === 'added' ? [...others, change.suppression] : others;
}

/** The refusal for a message on `channel`: its own channel's entry first, then an all-channel one. */
export function suppressionRefusal(list: readonly Suppression[], channel: Channel): string | null {
  const entry =
    list.find((candidate) => candidate.channel === channel) ?? list.find((candidate) => candidate.channel === null);
  if (entry === undefined) return null;
  return `suppressed: ${entry.reason ?? 'on the suppression list'}`;
}
