// SMS and mobile push through AWS SNS Publish (`PhoneNumber` / `TargetArn`), one SNSClient per
// provider. The SDK retries little: the channel owns retries, backoff and the breaker.
import { PublishCommand, type PublishCommandInput, SNSClient, type SNSClientConfig } from '@aws-sdk/client-sns';
import { type OutgoingMessage, type Provider, ProviderError, type SendReceipt } from '../Provider.ts';
import { classifySnsError } from './classifySnsError.ts';

/** The message attribute that tells SNS how to route an SMS (cost vs. delivery reliability). */
export const SMS_TYPE_ATTRIBUTE = 'AWS.SNS.SMS.SMSType';

export type SmsType = 'Transactional' | 'Promotional';

export type SnsProviderOptions = {
  /** Recorded on messages; default `sns`. */
  readonly name?: string;
  /** `AWS_ENDPOINT_URL_SNS`; unset, the SDK resolves it (it reads that variable itself too). */
  readonly endpoint?: string | undefined;
  /** Unset, the SDK's chain decides (`AWS_REGION`, then the shared config). */
  readonly region?: string | undefined;
  /** Unset, the SDK's default credential chain (environment, shared files, container, instance). */
  readonly credentials?: SNSClientConfig['credentials'];
  /** Bounds connecting, waiting for the answer, and a stalled answer body, each. Default 10 s. */
  readonly timeoutMs?: number;
  /** SDK attempts per send (1 = no SDK retries). Default 1; the channel retries with backoff. */
  readonly maxAttempts?: number;
};

const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * The SMS type for a message. `OutgoingMessage` carries no priority yet, so the sender's
 * `metadata.priority` decides: `marketing` is Promotional (cheaper, may be dropped or delayed by
 * carriers), everything else Transactional (highest reliability), matching the channel's
 * transactional-before-marketing rule.
 */
export function smsTypeOf(message: OutgoingMessage): SmsType {
  return message.priority === 'marketing' ? 'Promotional' : 'Transactional';
}

export class SnsProvider implements Provider {
  readonly name: string;
  readonly #client: SNSClient;
  readonly #inFlight = new Set<Promise<unknown>>();
  #closing: Promise<void> | undefined;

  constructor(options: SnsProviderOptions = {}) {
    this.name = options.name ?? 'sns';
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#client = new SNSClient({
      ...(options.endpoint !== undefined ? { endpoint: options.endpoint } : {}),
      ...(options.region !== undefined ? { region: options.region } : {}),
      ...(options.credentials !== undefined ? { credentials: options.credentials } : {}),
      maxAttempts: options.maxAttempts ?? 1,
      requestHandler: {
        connectionTimeout: timeoutMs,
        requestTimeout: timeoutMs,
        // Without this the SDK only logs a warning when requestTimeout passes.
        throwOnRequestTimeout: true,
        socketTimeout: timeoutMs,
      },
    });
  }

  /** Publishes one SMS (`channel: 'sms'`) or push (`channel: 'push'`); the receipt holds SNS's MessageId. */
  async send(message: OutgoingMessage): Promise<SendReceipt> {
    if (this.#closing !== undefined) {
      throw new ProviderError(this.name, 'provider is closed', { retriable: true, code: 'ECLOSED' });
    }
    const input = this.#publishInput(message);
    const publish = this.#client.send(new PublishCommand(input));
    this.#inFlight.add(publish);
    try {
      const output = await publish;
      return output.MessageId !== undefined ? { providerMessageId: output.MessageId } : {};
    } catch (error) {
      throw classifySnsError(error, this.name);
    } finally {
      this.#inFlight.delete(publish);
    }
  }

  /** Lets sends in flight finish (each is bounded by the timeouts), then releases the client's sockets. */
  close(): Promise<void> {
    this.#closing ??= Promise.allSettled([...this.#inFlight]).then(() => this.#client.destroy());
    return this.#closing;
  }

  #publishInput(message: OutgoingMessage): PublishCommandInput {
    if (message.text === undefined || message.text === '') {
      throw new ProviderError(this.name, 'message has no text to publish', { retriable: false });
    }
    switch (message.channel) {
      case 'sms':
        if (!message.to.phone) {
          throw new ProviderError(this.name, 'message has no phone number', { retriable: false });
        }
        return {
          PhoneNumber: message.to.phone,
          Message: message.text,
          MessageAttributes: { [SMS_TYPE_ATTRIBUTE]: { DataType: 'String', StringValue: smsTypeOf(message) } },
        };
      case 'push':
        if (!message.to.pushTarget) {
          throw new ProviderError(this.name, 'message has no push target (endpoint ARN)', { retriable: false });
        }
        return { TargetArn: message.to.pushTarget, Message: message.text };
      default:
        throw new ProviderError(this.name, `SNS cannot deliver the ${message.channel} channel`, { retriable: false });
    }
  }
}
