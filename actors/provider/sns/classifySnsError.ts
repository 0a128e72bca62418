// Translates what the AWS SDK throws for an SNS Publish into a ProviderError, once, at the adapter
// boundary: SNS's own error codes first, then the HTTP status, then what the transport said.
import { ProviderError } from '../Provider.ts';

/**
 * Codes a retry cannot fix: a bad number or ARN, a disabled endpoint, an opted-out phone, a
 * target we may not publish to. Matched after dropping an `Exception` suffix, so the SDK's class
 * names (`InvalidParameterException`) and SNS's wire codes (`InvalidParameter`) both land here.
 */
const PERMANENT_CODES: ReadonlySet<string> = new Set([
  'InvalidParameter',
  'InvalidParameterValue',
  // The wire code behind InvalidParameterValueException.
  'ParameterValueInvalid',
  'EndpointDisabled',
  'PlatformApplicationDisabled',
  'AuthorizationError',
  'NotFound',
  'ResourceNotFound',
  'OptedOut',
  'PhoneNumberOptedOut',
  'InvalidSecurity',
  'KMSAccessDenied',
  'KMSDisabled',
  'KMSInvalidState',
  'KMSNotFound',
  'KMSOptInRequired',
  'Validation',
  'UserError',
]);

/** Codes that say "not now": throttling, SNS's own trouble, a request that expired in flight. */
const TRANSIENT_CODES: ReadonlySet<string> = new Set([
  'Throttling',
  'Throttled',
  'TooManyRequests',
  'RequestLimitExceeded',
  'KMSThrottling',
  'InternalError',
  'InternalFailure',
  'ServiceUnavailable',
  'RequestTimeout',
  'RequestExpired',
  'PriorRequestNotComplete',
  // Our credentials, not the message, are at fault: once they are fixed (or refreshed) the same
  // message goes through, so it must not be failed for good.
  'InvalidClientTokenId',
  'UnrecognizedClient',
  'SignatureDoesNotMatch',
  'IncompleteSignature',
  'MissingAuthenticationToken',
  'ExpiredToken',
]);

/** Errors the transport raises before any SNS answer: connection trouble and timeouts. */
const NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

type SdkFailure = {
  name?: unknown;
  message?: unknown;
  code?: unknown;
  Code?: unknown;
  $metadata?: { httpStatusCode?: unknown };
};

/**
 * Classifies a failed SNS Publish. Permanent: invalid parameters, disabled or unknown endpoints,
 * opted-out numbers, authorization refusals, other 4xx answers. Transient: throttling, internal
 * errors, any 5xx, timeouts, network errors, missing, expired or wrong credentials (a
 * configuration fault that a retry after the fix can still deliver), and anything unrecognised.
 * @example classifySnsError(new ThrottledException({ message: 'slow down', $metadata: {} })).retriable // true
 */
export function classifySnsError(error: unknown, provider = 'sns'): ProviderError {
  if (error instanceof ProviderError) return error;
  const failure = (typeof error === 'object' && error !== null ? error : {}) as SdkFailure;
  const name = typeof failure.name === 'string' ? failure.name : undefined;
  const errno = typeof failure.code === 'string' ? failure.code : undefined;
  const text = typeof failure.message === 'string' && failure.message !== '' ? failure.message : String(error);
  const status = typeof failure.$metadata?.httpStatusCode === 'number' ? failure.$metadata.httpStatusCode : undefined;

  // A timeout can come with a 200 status (the body stalled after the headers), so it goes first.
  if (name === 'TimeoutError' || name === 'AbortError' || (errno !== undefined && NETWORK_CODES.has(errno))) {
    return new ProviderError(provider, `SNS unreachable: ${text}`, {
      retriable: true,
      code: errno ?? name,
      cause: error,
    });
  }

  const code = vendorCode(failure, name);
  const base = code === undefined ? undefined : code.replace(/Exception$/, '');
  const described = `SNS ${code ?? 'error'}${status === undefined ? '' : ` (HTTP ${status})`}: ${text}`;
  if (base !== undefined && PERMANENT_CODES.has(base)) {
    return new ProviderError(provider, described, { retriable: false, code, cause: error });
  }
  if (base !== undefined && TRANSIENT_CODES.has(base)) {
    return new ProviderError(provider, described, { retriable: true, code, cause: error });
  }
  if (status !== undefined && status >= 400) {
    // Unknown codes: the status decides (429 and 5xx retry, other 4xx will not get better).
    const retriable = status === 429 || status >= 500;
    return new ProviderError(provider, described, { retriable, code: code ?? String(status), cause: error });
  }
  if (name === 'CredentialsProviderError') {
    return new ProviderError(provider, `SNS credentials unavailable: ${text}`, {
      retriable: true,
      code: name,
      cause: error,
    });
  }
  // A reply we could not read (a proxy's HTML page, a cut-off body) or something unforeseen:
  // SNS may not have seen it, and a `dead` message can be replayed, a `failed` one is final.
  return new ProviderError(provider, described, { retriable: true, code: code ?? errno, cause: error });
}

/** SNS's wire code (`Code` from the XML error), or the SDK's exception name when it is specific. */
function vendorCode(failure: SdkFailure, name: string | undefined): string | undefined {
  if (typeof failure.Code === 'string' && failure.Code !== '') return failure.Code;
  if (name === undefined || name === 'Error' || name === 'Unknown' || name === 'SNSServiceException') return undefined;
  return name;
}
