// Builds a provider's transport from its configuration.
import type { DevOutboxProvider } from '../actors/provider/outbox/DevOutboxProvider.ts';
import type { Provider } from '../actors/provider/Provider.ts';
import { SmtpProvider } from '../actors/provider/smtp/SmtpProvider.ts';
import { SinkProvider } from '../actors/provider/sink/SinkProvider.ts';
import { SnsProvider } from '../actors/provider/sns/SnsProvider.ts';
import { WebhookProvider } from '../actors/provider/webhook/WebhookProvider.ts';
import type { ProviderSpec } from '../runtime/config/providerConfig.ts';

export type ProviderContext = {
  readonly emailFrom: string;
  /** One dev outbox serves every channel that has no provider. */
  readonly devOutbox: DevOutboxProvider;
  readonly aws: { readonly region: string | undefined; readonly snsEndpoint: string | undefined };
};

export function createProvider(spec: ProviderSpec, context: ProviderContext): Provider {
  switch (spec.type) {
    case 'dev-outbox':
      return context.devOutbox;
    case 'sink':
      return new SinkProvider(spec.name);
    case 'smtp':
      return new SmtpProvider({
        url: spec.url ?? '',
        from: context.emailFrom,
        timeoutMs: spec.timeoutMs,
        name: spec.name,
        maxConnections: spec.connections,
      });
    case 'sns':
      return new SnsProvider({
        name: spec.name,
        timeoutMs: spec.timeoutMs,
        ...(context.aws.region ? { region: context.aws.region } : {}),
        ...(context.aws.snsEndpoint ? { endpoint: context.aws.snsEndpoint } : {}),
      });
    case 'webhook':
      return new WebhookProvider({
        name: spec.name,
        secret: spec.secret ?? '',
        timeoutMs: spec.timeoutMs,
        ...(spec.url ? { url: spec.url } : {}),
      });
  }
}
