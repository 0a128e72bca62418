// The policy's configuration variables and the recipient's time zone in a send request.
import { describe, expect, it } from 'vitest';
import { ConfigError, describeConfig, loadConfig } from '../../runtime/config/loadConfig.ts';
import { sendRequestSchema } from '../../runtime/messages/sendRequest.ts';

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('policy configuration', () => {
  it('defaults to no caps, 10-minute dedupe, no quiet hours, UTC', () => {
    const config = loadConfig({});
    expect(config.policy).toEqual({
      frequencyCaps: {},
      dedupeWindowMs: 600_000,
      quietHours: null,
      defaultTimeZone: 'UTC',
    });
    expect(describeConfig(config).policy).toBe('no frequency caps; dedupe within 10 minutes; no quiet hours');
  });

  it('reads caps, dedupe window, quiet hours and default zone', () => {
    const config = loadConfig({
      SWITCHBOARD_FREQUENCY_CAPS: '{"marketing":{"email":{"max":3,"windowMs":86400000}}}',
      SWITCHBOARD_DEDUPE_WINDOW_MS: '0',
      SWITCHBOARD_QUIET_HOURS: '21:00-08:00',
      SWITCHBOARD_DEFAULT_TIME_ZONE: 'Europe/London',
    });
    expect(config.policy).toEqual({
      frequencyCaps: { marketing: { email: { max: 3, windowMs: 86_400_000 } } },
      dedupeWindowMs: 0,
      quietHours: { start: 21 * 60, end: 8 * 60 },
      defaultTimeZone: 'Europe/London',
    });
    expect(describeConfig(config).policy).toBe(
      'frequency caps marketing email 3/86400000ms; dedupe off; quiet hours 21:00-08:00 (default zone Europe/London)',
    );
  });

  it.each([
    ['SWITCHBOARD_FREQUENCY_CAPS', '{"marketing":{"email":{"max":-1,"windowMs":1}}}', /caps by priority/],
    ['SWITCHBOARD_FREQUENCY_CAPS', 'three', /JSON like/],
    ['SWITCHBOARD_DEDUPE_WINDOW_MS', '-5', /0 turns dedupe off/],
    ['SWITCHBOARD_QUIET_HOURS', '9pm-8am', /HH:MM-HH:MM/],
    ['SWITCHBOARD_QUIET_HOURS', '08:00-08:00', /start and end differ/],
    ['SWITCHBOARD_DEFAULT_TIME_ZONE', 'Europe/Atlantis', /IANA time zone/],
  ])('names %s when its value %j is wrong', (variable, value, message) => {
    const error = configError({ [variable]: value });
    expect(error.variable).toBe(variable);
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain('\n');
  });
});

describe('to.timeZone', () => {
  const send = (timeZone: unknown) =>
    sendRequestSchema.safeParse({
      channel: 'email',
      to: { id: 'u', email: 'u@example.com', timeZone },
      content: { text: 'hi' },
    });

  it('takes an IANA zone and refuses anything else', () => {
    expect(send('Europe/London').success).toBe(true);
    expect(send('America/Argentina/Buenos_Aires').success).toBe(true);
    const bad = send('Mars/Olympus_Mons');
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.path).toEqual(['to', 'timeZone']);
    expect(bad.error?.issues[0]?.message).toMatch(/IANA/);
    expect(send(42).success).toBe(false);
  });
});
