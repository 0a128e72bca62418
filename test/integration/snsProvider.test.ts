// The SNS provider through the real AWS SDK against a loopback endpoint that speaks SNS's Publish
// API: fields, attributes and SigV4 signatures on the wire, and SNS errors classified.
import { performance } from 'node:perf_hooks';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type OutgoingMessage, ProviderError } from '../../actors/provider/Provider.ts';
import { SMS_TYPE_ATTRIBUTE, SnsProvider } from '../../actors/provider/sns/SnsProvider.ts';
import { startSnsEndpoint, type TestSnsEndpoint } from '../support/snsEndpoint.ts';

const credentials = { accessKeyId: 'AKIDSWITCHBOARDTEST', secretAccessKey: 'switchboard-test-secret' };

const sms = (overrides: Partial<OutgoingMessage> = {}): OutgoingMessage => ({
  id: 'sms-1',
  channel: 'sms',
  to: { id: 'u1', phone: '+15555550100' },
  text: 'Your code is 123456 & that is that',
  ...overrides,
  priority: overrides.priority ?? 'transactional',
});

const push = (overrides: Partial<OutgoingMessage> = {}): OutgoingMessage => ({
  id: 'push-1',
  channel: 'push',
  to: { id: 'u2', pushTarget: 'arn:aws:sns:us-east-1:123456789012:endpoint/APNS/switchboard/0f3c' },
  text: 'Your parcel is on its way',
  ...overrides,
  priority: overrides.priority ?? 'transactional',
});

async function failureOf(promise: Promise<unknown>): Promise<ProviderError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ProviderError);
  return error as ProviderError;
}

describe('SnsProvider', () => {
  let sns: TestSnsEndpoint;
  let provider: SnsProvider;

  beforeAll(async () => {
    sns = await startSnsEndpoint({ credentials });
    provider = new SnsProvider({ endpoint: sns.url, region: 'us-east-1', credentials, timeoutMs: 5_000 });
  });

  afterAll(async () => {
    await provider?.close();
    await sns?.close();
  });

  it('publishes an SMS with PhoneNumber, the text and a Transactional SMS type, SigV4-signed', async () => {
    const receipt = await provider.send(sms());
    const request = sns.requests.at(-1);
    expect(request).toMatchObject({
      action: 'Publish',
      version: '2010-03-31',
      contentType: 'application/x-www-form-urlencoded',
      phoneNumber: '+15555550100',
      targetArn: undefined,
      topicArn: undefined,
      message: 'Your code is 123456 & that is that',
      signatureValid: true,
    });
    expect(request?.attributes).toEqual({
      [SMS_TYPE_ATTRIBUTE]: { dataType: 'String', stringValue: 'Transactional', binaryValue: undefined },
    });
    expect(request?.sigV4).toMatchObject({ accessKeyId: credentials.accessKeyId, region: 'us-east-1', service: 'sns' });
    expect(request?.outcome.kind).toBe('published');
    expect(receipt.providerMessageId).toBe(request?.outcome.kind === 'published' ? request.outcome.messageId : null);
  });

  it('sends marketing SMS as Promotional', async () => {
    await provider.send(sms({ id: 'sms-2', priority: 'marketing' }));
    expect(sns.requests.at(-1)?.attributes[SMS_TYPE_ATTRIBUTE]?.stringValue).toBe('Promotional');
  });

  it('publishes a push to the endpoint ARN with the text as Message', async () => {
    const receipt = await provider.send(push());
    const request = sns.requests.at(-1);
    expect(request).toMatchObject({
      action: 'Publish',
      targetArn: 'arn:aws:sns:us-east-1:123456789012:endpoint/APNS/switchboard/0f3c',
      phoneNumber: undefined,
      message: 'Your parcel is on its way',
      attributes: {},
      signatureValid: true,
    });
    expect(receipt.providerMessageId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('reports an SNS InvalidParameter refusal as permanent', async () => {
    // The endpoint refuses a malformed number the way SNS does.
    const error = await failureOf(provider.send(sms({ id: 'sms-3', to: { id: 'u3', phone: '+0-not-a-number' } })));
    expect(error).toMatchObject({ provider: 'sns', retriable: false, code: 'InvalidParameter' });
    expect(error.message).toContain('PhoneNumber');
    expect(sns.requests.at(-1)?.outcome).toEqual({ kind: 'failed', code: 'InvalidParameter' });
  });

  it.each([
    { code: 'InvalidParameter', status: 400 },
    { code: 'ParameterValueInvalid', status: 400 },
    { code: 'EndpointDisabled', status: 400 },
    { code: 'AuthorizationError', status: 403 },
    { code: 'NotFound', status: 404 },
    { code: 'OptedOut', status: 400 },
  ])('reports $code ($status) as permanent', async ({ code, status }) => {
    sns.failNext(1, { code, status });
    const error = await failureOf(provider.send(push({ id: `push-${code}` })));
    expect(error).toMatchObject({ retriable: false, code });
  });

  it.each([
    { code: 'Throttled', status: 429 },
    { code: 'Throttling', status: 400 },
    { code: 'InternalError', status: 500 },
    { code: 'InternalFailure', status: 500 },
    { code: 'ServiceUnavailable', status: 503 },
    { code: 'SomethingNew', status: 502 },
  ])('reports $code ($status) as transient, with one request and no SDK retry', async ({ code, status }) => {
    const before = sns.requests.length;
    sns.failNext(1, { code, status });
    const error = await failureOf(provider.send(sms({ id: `sms-${code}` })));
    expect(error).toMatchObject({ retriable: true, code });
    expect(sns.requests.length).toBe(before + 1);
  });

  it('reports throttling through throttleNext as transient', async () => {
    sns.throttleNext();
    const error = await failureOf(provider.send(sms({ id: 'sms-throttled' })));
    expect(error).toMatchObject({ retriable: true, code: 'Throttled' });
  });

  it('refuses a message without a phone number or push target, without calling SNS', async () => {
    const before = sns.requests.length;
    const noPhone = await failureOf(provider.send(sms({ id: 'sms-4', to: { id: 'u4' } })));
    const noTarget = await failureOf(provider.send(push({ id: 'push-4', to: { id: 'u4' } })));
    const email = await failureOf(
      provider.send({
        id: 'e-1',
        channel: 'email',
        priority: 'transactional',
        to: { id: 'u4', email: 'a@b.test' },
        text: 'x',
      }),
    );
    expect([noPhone.retriable, noTarget.retriable, email.retriable]).toEqual([false, false, false]);
    expect(sns.requests.length).toBe(before);
  });

  describe('when the endpoint hangs', () => {
    let quick: SnsProvider;
    beforeAll(() => {
      quick = new SnsProvider({ endpoint: sns.url, region: 'us-east-1', credentials, timeoutMs: 500 });
    });
    afterEach(() => sns.releaseHung());
    afterAll(() => quick?.close());

    it('fails transiently with a timeout, within the configured timeout', async () => {
      sns.hangNext();
      const started = performance.now();
      const error = await failureOf(quick.send(sms({ id: 'sms-hang' })));
      const elapsed = performance.now() - started;
      expect(error).toMatchObject({ retriable: true, code: 'ETIMEDOUT' });
      expect(elapsed).toBeGreaterThanOrEqual(450);
      expect(elapsed).toBeLessThan(2_500);
      expect(sns.requests.at(-1)?.outcome.kind).toBe('hung');
    });
  });

  it('is refused when signed with the wrong secret, and reports that as transient (our configuration)', async () => {
    const wrong = new SnsProvider({
      endpoint: sns.url,
      region: 'us-east-1',
      credentials: { ...credentials, secretAccessKey: 'not-the-secret' },
    });
    try {
      const error = await failureOf(wrong.send(sms({ id: 'sms-wrong-key' })));
      expect(error).toMatchObject({ retriable: true, code: 'SignatureDoesNotMatch' });
      expect(sns.requests.at(-1)).toMatchObject({ signatureValid: false, outcome: { kind: 'failed' } });
    } finally {
      await wrong.close();
    }
  });

  it('reports an unreachable endpoint as transient', async () => {
    const gone = await startSnsEndpoint();
    await gone.close();
    const unreachable = new SnsProvider({ endpoint: gone.url, region: 'us-east-1', credentials, timeoutMs: 2_000 });
    try {
      const error = await failureOf(unreachable.send(sms({ id: 'sms-5' })));
      expect(error).toMatchObject({ retriable: true, code: 'ECONNREFUSED' });
    } finally {
      await unreachable.close();
    }
  });

  it('refuses sends after close, as retriable', async () => {
    const closing = new SnsProvider({ endpoint: sns.url, region: 'us-east-1', credentials });
    await closing.close();
    await closing.close();
    const error = await failureOf(closing.send(sms({ id: 'sms-6' })));
    expect(error).toMatchObject({ retriable: true, code: 'ECLOSED' });
  });

  describe('with nothing but the environment', () => {
    afterEach(() => vi.unstubAllEnvs());

    it('takes credentials, region and endpoint from the SDK default chain', async () => {
      vi.stubEnv('AWS_ACCESS_KEY_ID', credentials.accessKeyId);
      vi.stubEnv('AWS_SECRET_ACCESS_KEY', credentials.secretAccessKey);
      vi.stubEnv('AWS_SESSION_TOKEN', undefined);
      vi.stubEnv('AWS_PROFILE', undefined);
      vi.stubEnv('AWS_REGION', 'eu-west-1');
      vi.stubEnv('AWS_ENDPOINT_URL_SNS', sns.url);
      const fromEnvironment = new SnsProvider();
      try {
        await fromEnvironment.send(sms({ id: 'sms-env' }));
        expect(sns.requests.at(-1)).toMatchObject({ phoneNumber: '+15555550100', signatureValid: true });
        expect(sns.requests.at(-1)?.sigV4).toMatchObject({ accessKeyId: credentials.accessKeyId, region: 'eu-west-1' });
      } finally {
        await fromEnvironment.close();
      }
    });
  });
});
