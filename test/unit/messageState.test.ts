import { describe, expect, it } from 'vitest';
import {
  isLegalTransition,
  MESSAGE_STATES,
  statesLeadingTo,
  TERMINAL_STATES,
} from '../../runtime/messages/messageState.ts';

describe('message state machine', () => {
  it('follows accepted → queued → sending → sent → delivered', () => {
    expect(isLegalTransition('accepted', 'queued')).toBe(true);
    expect(isLegalTransition('queued', 'sending')).toBe(true);
    expect(isLegalTransition('sending', 'sent')).toBe(true);
    expect(isLegalTransition('sent', 'delivered')).toBe(true);
  });

  it('never leaves sent, delivered or suppressed', () => {
    for (const to of MESSAGE_STATES) {
      expect(isLegalTransition('delivered', to)).toBe(false);
      expect(isLegalTransition('suppressed', to)).toBe(false);
      if (to !== 'delivered') expect(isLegalTransition('sent', to)).toBe(false);
    }
  });

  it('lets failed and dead messages be replayed, and nothing else re-enter queued from a terminal state', () => {
    expect(statesLeadingTo('queued').sort()).toEqual(['accepted', 'dead', 'failed', 'sending'].sort());
  });

  it('marks terminal states', () => {
    expect([...TERMINAL_STATES].sort()).toEqual(['dead', 'delivered', 'failed', 'sent', 'suppressed']);
    expect(isLegalTransition('accepted', 'sent')).toBe(false);
  });
});
