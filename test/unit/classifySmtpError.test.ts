import { describe, expect, it } from 'vitest';
import { classifySmtpError } from '../../actors/provider/smtp/SmtpProvider.ts';

describe('classifySmtpError', () => {
  it('treats 5xx replies as permanent', () => {
    const error = classifySmtpError(
      Object.assign(new Error('mailbox unavailable'), { responseCode: 550, code: 'EENVELOPE' }),
    );
    expect(error.retriable).toBe(false);
    expect(error.code).toBe('550');
    expect(error.provider).toBe('smtp');
  });

  it('treats 4xx replies as transient', () => {
    expect(classifySmtpError(Object.assign(new Error('try later'), { responseCode: 421 })).retriable).toBe(true);
  });

  it('treats connection trouble as transient', () => {
    const error = classifySmtpError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ESOCKET' }));
    expect(error.retriable).toBe(true);
    expect(error.code).toBe('ESOCKET');
  });

  it('treats a refused envelope without a reply as permanent', () => {
    expect(classifySmtpError(Object.assign(new Error('no recipients'), { code: 'EENVELOPE' })).retriable).toBe(false);
  });
});
