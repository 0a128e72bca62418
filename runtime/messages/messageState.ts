// The life of a message: its states and which transitions between them are legal.

export const MESSAGE_STATES = [
  'accepted',
  'queued',
  'sending',
  'sent',
  'delivered',
  'suppressed',
  'failed',
  'dead',
] as const;
export type MessageState = (typeof MESSAGE_STATES)[number];

export const TERMINAL_STATES: ReadonlySet<MessageState> = new Set([
  'sent',
  'delivered',
  'suppressed',
  'failed',
  'dead',
]);

const LEGAL: Readonly<Record<MessageState, readonly MessageState[]>> = {
  accepted: ['queued', 'sending', 'suppressed', 'failed', 'dead'],
  queued: ['sending', 'suppressed', 'failed', 'dead'],
  // back to queued when a transient failure waits for its retry
  sending: ['sent', 'queued', 'failed', 'dead'],
  sent: ['delivered'],
  delivered: [],
  suppressed: [],
  // replayed by an operator
  failed: ['queued'],
  dead: ['queued'],
};

/** States from which `to` may be entered. */
export function statesLeadingTo(to: MessageState): MessageState[] {
  return MESSAGE_STATES.filter((from) => LEGAL[from].includes(to));
}

export function isLegalTransition(from: MessageState, to: MessageState): boolean {
  return LEGAL[from].includes(to);
}

/** A transition that the state machine forbids, or whose message is not in the expected state. */
export class IllegalTransitionError extends Error {
  readonly messageId: string;
  readonly from: MessageState | undefined;
  readonly to: MessageState;
  constructor(messageId: string, from: MessageState | undefined, to: MessageState) {
    super(`message ${messageId} cannot go from ${from ?? 'an unknown state'} to ${to}`);
    this.name = 'IllegalTransitionError';
    this.messageId = messageId;
    this.from = from;
    this.to = to;
  }
}
