// An HTTP endpoint on loopback that speaks SNS's Publish API the way @aws-sdk/client-sns sends it
// (AWS query protocol: form-encoded POST, XML reply), so tests run the real SDK code path. It
// records every request, checks SigV4 signatures, and can be told to fail, throttle or hang.
import { createHash, createHmac, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type SnsMessageAttribute = {
  readonly dataType: string | undefined;
  readonly stringValue: string | undefined;
  readonly binaryValue: string | undefined;
};

/** The parts of the `Authorization` header an AWS SigV4 signature carries. */
export type SigV4Credential = {
  readonly accessKeyId: string;
  readonly date: string;
  readonly region: string;
  readonly service: string;
  readonly signedHeaders: readonly string[];
};

export type PublishRequest = {
  readonly action: string | undefined;
  readonly version: string | undefined;
  readonly phoneNumber: string | undefined;
  readonly targetArn: string | undefined;
  readonly topicArn: string | undefined;
  readonly message: string | undefined;
  readonly subject: string | undefined;
  readonly attributes: Readonly<Record<string, SnsMessageAttribute>>;
  /** Every form field as sent. */
  readonly params: Readonly<Record<string, string>>;
  readonly contentType: string | undefined;
  readonly authorization: string | undefined;
  /** Parsed from `Authorization` when it is an `AWS4-HMAC-SHA256` signature. */
  readonly sigV4: SigV4Credential | undefined;
  /** Checked against the endpoint's credentials; undefined when it was started without any. */
  readonly signatureValid: boolean | undefined;
  /** What the endpoint did: the MessageId it returned, the error code it answered, or `hung`. */
  readonly outcome: PublishOutcome;
};

export type PublishOutcome =
  | { readonly kind: 'published'; readonly messageId: string }
  | { readonly kind: 'failed'; readonly code: string }
  | { readonly kind: 'hung' };

export type SnsFault = {
  readonly code: string;
  readonly status: number;
  /** `Sender` (the caller's fault, default below 500) or `Receiver`. */
  readonly type?: 'Sender' | 'Receiver';
  readonly message?: string;
};

export type SnsEndpointOptions = {
  /** When given, requests must carry a valid SigV4 signature for these credentials (403 otherwise). */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
};

export type TestSnsEndpoint = {
  /** `http://127.0.0.1:<port>`: the SNS endpoint for the SDK. */
  readonly url: string;
  /** Every request, in arrival order. */
  readonly requests: readonly PublishRequest[];
  /** The requests answered with a MessageId. */
  readonly published: readonly PublishRequest[];
  /** Answers the next `count` requests with this error instead of publishing. */
  failNext(count: number, fault: SnsFault): void;
  /** Answers the next `count` requests with SNS's throttling error (`Throttled`, 429). */
  throttleNext(count?: number): void;
  /** Holds the next `count` requests without ever answering, until `releaseHung()` or `close()`. */
  hangNext(count?: number): void;
  /** Drops the connections of held requests. */
  releaseHung(): void;
  /** Forgets planned failures and hangs: the next requests are answered normally. */
  clearPlan(): void;
  /** Resolves once at least `count` requests have arrived. */
  waitForRequests(count: number): Promise<void>;
  close(): Promise<void>;
};

type Planned = { readonly kind: 'fail'; readonly fault: SnsFault } | { readonly kind: 'hang' };

const XMLNS = 'http://sns.amazonaws.com/doc/2010-03-31/';
const PHONE = /^\+?[1-9]\d{1,14}$/;

/** Starts the endpoint on 127.0.0.1 with a port chosen by the OS. */
export async function startSnsEndpoint(options: SnsEndpointOptions = {}): Promise<TestSnsEndpoint> {
  const requests: PublishRequest[] = [];
  const plan: Planned[] = [];
  const held = new Set<ServerResponse>();
  const waiters: { count: number; resolve: () => void }[] = [];

  const record = (request: PublishRequest) => {
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
      const body = Buffer.concat(chunks);
      const parsed = parsePublish(req, body, options.credentials);
      const planned = plan.shift();
      if (planned?.kind === 'hang') {
        held.add(res);
        res.on('close', () => held.delete(res));
        record({ ...parsed, outcome: { kind: 'hung' } });
        return;
      }
      const fault = planned?.fault ?? refusal(parsed, options.credentials !== undefined);
      if (fault !== undefined) {
        record({ ...parsed, outcome: { kind: 'failed', code: fault.code } });
        replyError(res, fault);
        return;
      }
      const messageId = randomUUID();
      record({ ...parsed, outcome: { kind: 'published', messageId } });
      reply(
        res,
        200,
        `<PublishResponse xmlns="${XMLNS}"><PublishResult><MessageId>${messageId}</MessageId></PublishResult>` +
          `<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></PublishResponse>`,
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    get published() {
      return requests.filter((request) => request.outcome.kind === 'published');
    },
    failNext(count, fault) {
      for (let i = 0; i < count; i++) plan.push({ kind: 'fail', fault });
    },
    throttleNext(count = 1) {
      for (let i = 0; i < count; i++)
        plan.push({ kind: 'fail', fault: { code: 'Throttled', status: 429, message: 'Rate exceeded' } });
    },
    hangNext(count = 1) {
      for (let i = 0; i < count; i++) plan.push({ kind: 'hang' });
    },
    clearPlan() {
      plan.length = 0;
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

function parsePublish(
  req: IncomingMessage,
  body: Buffer,
  credentials: SnsEndpointOptions['credentials'],
): Omit<PublishRequest, 'outcome'> {
  // The query protocol puts everything in the form body; a GET would carry it in the query string.
  const url = new URL(req.url ?? '/', 'http://localhost');
  const form = new URLSearchParams(body.toString('utf8'));
  const params: Record<string, string> = {};
  for (const [key, value] of [...url.searchParams, ...form]) params[key] = value;

  const attributes: Record<string, SnsMessageAttribute> = {};
  for (let n = 1; params[`MessageAttributes.entry.${n}.Name`] !== undefined; n++) {
    const prefix = `MessageAttributes.entry.${n}`;
    attributes[params[`${prefix}.Name`] ?? ''] = {
      dataType: params[`${prefix}.Value.DataType`],
      stringValue: params[`${prefix}.Value.StringValue`],
      binaryValue: params[`${prefix}.Value.BinaryValue`],
    };
  }
  const authorization = req.headers.authorization;
  const sigV4 = parseSigV4(authorization);
  return {
    action: params.Action,
    version: params.Version,
    phoneNumber: params.PhoneNumber,
    targetArn: params.TargetArn,
    topicArn: params.TopicArn,
    message: params.Message,
    subject: params.Subject,
    attributes,
    params,
    contentType: req.headers['content-type'],
    authorization,
    sigV4,
    signatureValid:
      credentials === undefined ? undefined : checkSignature(req, body, sigV4, authorization, credentials),
  };
}

/** What real SNS would refuse: bad signatures, other actions, missing or malformed targets. */
function refusal(request: Omit<PublishRequest, 'outcome'>, checkingSignatures: boolean): SnsFault | undefined {
  if (checkingSignatures && request.authorization === undefined) {
    return { code: 'MissingAuthenticationToken', status: 403, message: 'Request is missing Authentication Token' };
  }
  if (checkingSignatures && request.signatureValid !== true) {
    return {
      code: 'SignatureDoesNotMatch',
      status: 403,
      message: 'The request signature we calculated does not match',
    };
  }
  if (request.action !== 'Publish') {
    return { code: 'InvalidAction', status: 400, message: `Could not find operation ${request.action ?? ''}` };
  }
  const targets = [request.phoneNumber, request.targetArn, request.topicArn].filter((t) => t !== undefined);
  if (targets.length !== 1) {
    return {
      code: 'InvalidParameter',
      status: 400,
      message: 'Invalid parameter: exactly one of TopicArn, TargetArn or PhoneNumber',
    };
  }
  if (request.message === undefined || request.message === '') {
    return { code: 'InvalidParameter', status: 400, message: 'Invalid parameter: Empty message' };
  }
  if (request.phoneNumber !== undefined && !PHONE.test(request.phoneNumber)) {
    return {
      code: 'InvalidParameter',
      status: 400,
      message: `Invalid parameter: PhoneNumber Reason: ${request.phoneNumber} is not valid to publish to`,
    };
  }
  const arn = request.targetArn ?? request.topicArn;
  if (arn !== undefined && !arn.startsWith('arn:')) {
    return {
      code: 'InvalidParameter',
      status: 400,
      message: `Invalid parameter: TargetArn Reason: ${arn} is not an ARN`,
    };
  }
  return undefined;
}

function parseSigV4(authorization: string | undefined): SigV4Credential | undefined {
  const match =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=[0-9a-f]{64}$/.exec(
      authorization ?? '',
    );
  if (match === null) return undefined;
  const [, accessKeyId = '', date = '', region = '', service = '', signedHeaders = ''] = match;
  return { accessKeyId, date, region, service, signedHeaders: signedHeaders.split(';') };
}

/** Recomputes the SigV4 signature (canonical request → string to sign → derived key) and compares. */
function checkSignature(
  req: IncomingMessage,
  body: Buffer,
  credential: SigV4Credential | undefined,
  authorization: string | undefined,
  credentials: NonNullable<SnsEndpointOptions['credentials']>,
): boolean {
  if (credential === undefined || authorization === undefined) return false;
  if (credential.accessKeyId !== credentials.accessKeyId) return false;
  const amzDate = req.headers['x-amz-date'];
  if (typeof amzDate !== 'string' || !amzDate.startsWith(credential.date)) return false;
  const bodyHash = sha256Hex(body);
  const declaredHash = req.headers['x-amz-content-sha256'];
  if (declaredHash !== undefined && declaredHash !== bodyHash) return false;
  const url = new URL(req.url ?? '/', 'http://localhost');
  const query = [...url.searchParams]
    .map(([key, value]) => `${encodeRfc3986(key)}=${encodeRfc3986(value)}`)
    .sort()
    .join('&');
  const canonicalHeaders = credential.signedHeaders
    .map((name) => {
      const value = req.headers[name];
      const text = Array.isArray(value) ? value.join(',') : (value ?? '');
      return `${name}:${text.trim().replace(/\s+/g, ' ')}\n`;
    })
    .join('');
  const canonicalRequest = [
    req.method ?? 'POST',
    url.pathname,
    query,
    canonicalHeaders,
    credential.signedHeaders.join(';'),
    bodyHash,
  ].join('\n');
  const scope = `${credential.date}/${credential.region}/${credential.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  let key = hmac(`AWS4${credentials.secretAccessKey}`, credential.date);
  for (const part of [credential.region, credential.service, 'aws4_request']) key = hmac(key, part);
  const signature = createHmac('sha256', key).update(stringToSign).digest('hex');
  return authorization.endsWith(`Signature=${signature}`);
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function encodeRfc3986(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function replyError(res: ServerResponse, fault: SnsFault): void {
  const type = fault.type ?? (fault.status >= 500 ? 'Receiver' : 'Sender');
  const requestId = randomUUID();
  reply(
    res,
    fault.status,
    `<ErrorResponse xmlns="${XMLNS}"><Error><Type>${type}</Type><Code>${escapeXml(fault.code)}</Code>` +
      `<Message>${escapeXml(fault.message ?? fault.code)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
    requestId,
  );
}

function reply(res: ServerResponse, status: number, xml: string, requestId: string = randomUUID()): void {
  // Real SNS also names the request in a header, which is where the SDK looks for $metadata.requestId.
  res.writeHead(status, { 'content-type': 'text/xml', 'x-amzn-RequestId': requestId });
  res.end(xml);
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}
