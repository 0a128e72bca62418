import {
  EndpointDisabledException,
  InternalErrorException,
  InvalidParameterException,
  InvalidParameterValueException,
  SNSServiceException,
  ThrottledException,
} from '@aws-sdk/client-sns';
import { describe, expect, it } from 'vitest';
import { ProviderError } from '../../actors/provider/Provider.ts';
import { classifySnsError } from '../../actors/provider/sns/classifySnsError.ts';

const metadata = (httpStatusCode?: number) => ({ $metadata: httpStatusCode === undefined ? {} : { httpStatusCode } });

/** An error shaped as the SDK decorates it: the wire code in `Code`, the status in `$metadata`. */
const serviceError = (name: string, Code: string | undefined, status: number) =>
  Object.assign(new SNSServiceException({ name, $fault: status >= 500 ? 'server' : 'client', ...metadata(status) }), {
    Code,
    message: `${name} happened`,
  });

describe('classifySnsError', () => {
  it('treats the SDK exceptions for bad parameters and disabled endpoints as permanent', () => {
    for (const error of [
      new InvalidParameterException({ message: 'Invalid parameter: PhoneNumber', ...metadata(400) }),
      new InvalidParameterValueException({ message: 'bad value', ...metadata(400) }),
      new EndpointDisabledException({ message: 'Endpoint is disabled', ...metadata(400) }),
    ]) {
      const classified = classifySnsError(error);
      expect(classified).toBeInstanceOf(ProviderError);
      expect(classified.retriable).toBe(false);
      expect(classified.provider).toBe('sns');
      expect(classified.cause).toBe(error);
    }
  });

  it.each([
    ['InvalidParameter', 400],
    ['InvalidParameterValue', 400],
    ['ParameterValueInvalid', 400],
    ['EndpointDisabled', 400],
    ['AuthorizationError', 403],
    ['NotFound', 404],
    ['OptedOut', 400],
    ['KMSDisabled', 400],
  ])('treats wire code %s as permanent and keeps it as the code', (code, status) => {
    const classified = classifySnsError(serviceError(`${code}Exception`, code, status));
    expect(classified.retriable).toBe(false);
    expect(classified.code).toBe(code);
  });

  it.each([
    ['Throttling', 400],
    ['ThrottlingException', 400],
    ['Throttled', 429],
    ['KMSThrottling', 400],
    ['InternalError', 500],
    ['InternalFailure', 500],
    ['ServiceUnavailable', 503],
    ['ExpiredToken', 403],
  ])('treats wire code %s as transient', (code, status) => {
    expect(classifySnsError(serviceError(code, code, status)).retriable).toBe(true);
  });

  it('recognises ThrottledException and InternalErrorException by name alone', () => {
    expect(classifySnsError(new ThrottledException({ message: 'slow', ...metadata(429) }))).toMatchObject({
      retriable: true,
      code: 'ThrottledException',
    });
    expect(classifySnsError(new InternalErrorException({ message: 'oops', ...metadata(500) })).retriable).toBe(true);
  });

  it('lets the status decide for unknown codes: 5xx and 429 transient, other 4xx permanent', () => {
    expect(classifySnsError(serviceError('Unknown', undefined, 502))).toMatchObject({ retriable: true, code: '502' });
    expect(classifySnsError(serviceError('Brand', 'BrandNewLimit', 429)).retriable).toBe(true);
    expect(classifySnsError(serviceError('Brand', 'BrandNewRefusal', 400))).toMatchObject({
      retriable: false,
      code: 'BrandNewRefusal',
    });
  });

  it('treats timeouts and network errors as transient, even after a 200 status line', () => {
    const stalled = Object.assign(new Error('socket timed out'), { name: 'TimeoutError', ...metadata(200) });
    expect(classifySnsError(stalled)).toMatchObject({ retriable: true, code: 'TimeoutError' });
    const requestTimeout = Object.assign(new Error('exceeded requestTimeout'), {
      name: 'TimeoutError',
      code: 'ETIMEDOUT',
    });
    expect(classifySnsError(requestTimeout)).toMatchObject({ retriable: true, code: 'ETIMEDOUT' });
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    expect(classifySnsError(refused)).toMatchObject({ retriable: true, code: 'ECONNREFUSED' });
    expect(classifySnsError(Object.assign(new Error('aborted'), { name: 'AbortError' })).retriable).toBe(true);
  });

  it('treats missing credentials and unreadable answers as transient', () => {
    const noCredentials = Object.assign(new Error('Could not load credentials from any providers'), {
      name: 'CredentialsProviderError',
    });
    expect(classifySnsError(noCredentials)).toMatchObject({ retriable: true, code: 'CredentialsProviderError' });
    const unparseable = Object.assign(new Error('XML parse error'), metadata(200));
    expect(classifySnsError(unparseable).retriable).toBe(true);
    expect(classifySnsError('something odd').retriable).toBe(true);
  });

  it('names the provider it is given and passes a ProviderError through', () => {
    expect(classifySnsError(serviceError('X', 'OptedOut', 400), 'sns-sms').provider).toBe('sns-sms');
    const already = new ProviderError('sns', 'no phone', { retriable: false });
    expect(classifySnsError(already)).toBe(already);
  });
});
