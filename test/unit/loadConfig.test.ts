import { describe, expect, it } from 'vitest';
import { ConfigError, describeConfig, loadConfig } from '../../runtime/config/loadConfig.ts';

describe('loadConfig', () => {
  it('applies the embedded defaults with an empty environment', () => {
    const config = loadConfig({}, '/srv/app');
    expect(config.port).toBe(8080);
    expect(config.databaseUrl).toBeUndefined();
    expect(config.dataDir).toBe('/srv/app/.switchboard');
    expect(config.kafkaBrokers).toEqual([]);
    expect(config.apiKeys).toEqual([]);
    expect(Object.isFrozen(config)).toBe(true);
    const parts = describeConfig(config);
    expect(parts.store).toContain('embedded PGlite');
    expect(parts.email).toContain('dev outbox');
    expect(parts.kafka).toContain('off');
  });

  it('reads the contract variables', () => {
    const config = loadConfig({
      PORT: '9000',
      DATABASE_URL: 'postgres://u:p@db:5432/sb',
      KAFKA_BROKERS: 'k1:9092, k2:9092',
      AMQP_URL: 'amqp://guest:guest@mq:5672',
      SMTP_URL: 'smtp://mail:2525',
      SWITCHBOARD_API_KEYS: 'aaaaaaaaaaaaaaaa,bbbbbbbbbbbbbbbb',
      SWITCHBOARD_OPERATOR_TOKEN: 'operator-token-1234',
    });
    expect(config.port).toBe(9000);
    expect(config.kafkaBrokers).toEqual(['k1:9092', 'k2:9092']);
    expect(config.apiKeys).toHaveLength(2);
    expect(describeConfig(config).store).toContain('postgresql');
    expect(describeConfig(config).email).toContain('smtp');
  });

  it.each([
    ['PORT', 'eighty', /PORT: expected a TCP port number/],
    ['PORT', '70000', /PORT: expected a TCP port number/],
    ['DATABASE_URL', 'mysql://x/y', /DATABASE_URL: expected a URL starting with postgres:\/\//],
    ['SMTP_URL', 'mail.example.com', /SMTP_URL: expected a URL starting with smtp:\/\//],
    ['KAFKA_BROKERS', 'k1', /KAFKA_BROKERS: expected a comma-separated list of host:port/],
    ['SWITCHBOARD_API_KEYS', 'short', /SWITCHBOARD_API_KEYS: expected a comma-separated list of API keys/],
  ])('names %s when its value %j is wrong', (variable, value, message) => {
    let thrown: unknown;
    try {
      loadConfig({ [variable]: value });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as ConfigError).variable).toBe(variable);
    expect((thrown as ConfigError).message).toMatch(message);
    expect((thrown as ConfigError).message).not.toContain('\n');
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ PORT: '', DATABASE_URL: ' ' }).port).toBe(8080);
  });
});
