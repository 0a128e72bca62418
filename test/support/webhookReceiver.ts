// A webhook receiver on loopback (node:http, so the raw body bytes are what the signature covers):
// records every request, verifies its signature, and can be told to refuse, redirect or hang.
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifySignature } from '../../actors/provider/webhook/webhookSignature.ts';

export type ReceivedWebhook = {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  /** The body exactly as received. */
  readonly body: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  readonly json: unknown;
  /** `X-Switchboard-Signature` checked against the body with the receiver's secret. */
  readonly signatureValid: boolean;
  /** The status answered, or `hung`. */
  readonly answered: number | 'hung';
};

/** An answer to give instead of the default 200. */
export type WebhookReply =
  | {
      readonly kind: 'status';
      readonly status: number;
      readonly headers?: Record<string, string>;
      readonly body?: string;
    }
  | { readonly kind: 'hang' };

export type TestWebhookReceiver = {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  /** A URL on this receiver; default path `/hook`. */
  url(path?: string): string;
  /** Every request, in arrival order. */
  readonly requests: readonly ReceivedWebhook[];
  /** Gives this answer to the next `count` requests. */
  replyNext(reply: WebhookReply, count?: number): void;
  /** Drops the connections of requests held by a `hang` reply. */
  releaseHung(): void;
  /** Resolves once at least `count` requests have arrived. */
  waitForRequests(count: number): Promise<void>;
  close(): Promise<void>;
};

/** Starts the receiver on 127.0.0.1 with a port chosen by the OS. */
export async function startWebhookReceiver(options: { readonly secret: string }): Promise<TestWebhookReceiver> {
  const requests: ReceivedWebhook[] = [];
  const plan: WebhookReply[] = [];
  const held = new Set<ServerResponse>();
  const waiters: { count: number; resolve: () => void }[] = [];

  const record = (request: ReceivedWebhook) => {
    requests.push(request);
    for (const waiter of [...waiters]) {
      if (requests.length >= waiter.count) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const body = raw.toString('utf8');
      const reply = plan.shift() ?? { kind: 'status', status: 200, body: '{"ok":true}' };
      const received = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body,
        json: parseJson(body),
        signatureValid: verifySignature(raw, req.headers['x-switchboard-signature'], options.secret),
      };
      if (reply.kind === 'hang') {
        held.add(res);
        res.on('close', () => held.delete(res));
        record({ ...received, answered: 'hung' });
        return;
      }
      record({ ...received, answered: reply.status });
      res.writeHead(reply.status, reply.headers);
      res.end(reply.body ?? '');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  let closing: Promise<void> | undefined;
  return {
    origin,
    url: (path = '/hook') => `${origin}${path}`,
    requests,
    replyNext(reply, count = 1) {
      for (let i = 0; i < count; i++) plan.push(reply);
    },
    releaseHung() {
      for (const res of held) res.destroy();
      held.clear();
    },
    waitForRequests(count) {
      if (requests.length >= count) return Promise.resolve();
      return new Promise<void>((resolve) => waiters.push({ count, resolve }));
    },
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
