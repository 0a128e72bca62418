import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../runtime/logging/createLogger.ts';
import { maskPersonalData, maskText } from '../../runtime/logging/maskPersonalData.ts';

describe('maskText', () => {
  it('masks email addresses', () => {
    expect(maskText('to jane.doe@example.com now')).toBe('to j***@e***.com now');
  });

  it('masks phone numbers but keeps their last two digits', () => {
    expect(maskText('call +447700900123')).toBe('call +**********23');
    expect(maskText('call +44 7700 900123')).toBe('call +**********23');
  });

  it('leaves ids, ports and timestamps alone', () => {
    const text = 'message 3f1c2a54-0d7e-4b7a-9a55-9d7c2b8e1f00 on port 8080 at 2026-11-24T01:00:00Z';
    expect(maskText(text)).toBe(text);
  });
});

describe('maskPersonalData', () => {
  it('masks nested strings and error messages', () => {
    const masked = maskPersonalData({
      to: { email: 'a@b.io', phone: '+15551234567' },
      err: new Error('bad a@b.io'),
    }) as {
      to: { email: string; phone: string };
      err: { message: string };
    };
    expect(masked.to.email).toBe('a***@b***.io');
    expect(masked.to.phone).toBe('+*********67');
    expect(masked.err.message).toBe('bad a***@b***.io');
  });
});

describe('createLogger', () => {
  it('writes JSON lines with no email, phone or credential in them', () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        lines.push(chunk.toString());
        callback();
      },
    });
    const logger = createLogger({ level: 'info', destination });
    logger.info(
      { to: 'jane@example.com', phone: '+447700900123', authorization: 'Bearer secret-key' },
      'sending to jane@example.com',
    );
    logger.error({ err: new Error('rejected +447700900123') }, 'failed');
    const output = lines.join('');
    expect(output).not.toContain('jane@example.com');
    expect(output).not.toContain('447700900123');
    expect(output).not.toContain('secret-key');
    expect(output).toContain('j***@e***.com');
    const first = JSON.parse(lines[0] ?? '{}') as { level: string; msg: string; authorization: string };
    expect(first.level).toBe('info');
    expect(first.msg).toBe('sending to j***@e***.com');
    expect(first.authorization).toBe('[redacted]');
  });
});
