// Where an audience's bytes come from: an S3 object, read from a byte offset with a ranged GET and
// streamed (never held whole), or the inline list stored with the campaign.
import { GetObjectCommand, HeadObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import type { Config } from '../../../runtime/config/loadConfig.ts';
import type { AudienceEntry, AudienceSource } from '../campaignDefinition.ts';
import { type AudienceCursor, type AudienceItem, readAudience } from './readAudience.ts';

/** The audience object is not there (or the bucket is not), or we may not read it. */
export class AudienceNotFoundError extends Error {
  constructor(url: string, detail: string) {
    super(`audience ${url} cannot be read: ${detail}`);
    this.name = 'AudienceNotFoundError';
  }
}

/** S3 could not be reached or answered with a server error: worth trying again later. */
export class AudienceUnavailableError extends Error {
  constructor(url: string, cause: unknown) {
    super(`audience ${url}: S3 did not answer (${cause instanceof Error ? cause.message : String(cause)})`, { cause });
    this.name = 'AudienceUnavailableError';
  }
}

/** An S3 client for the configured region and endpoint (path-style addressing for a custom endpoint). */
export function createS3Client(aws: Config['aws']): S3Client {
  return new S3Client({
    region: aws.region ?? 'us-east-1',
    ...(aws.s3Endpoint !== undefined ? { endpoint: aws.s3Endpoint, forcePathStyle: true } : {}),
  });
}

export class AudienceReader {
  readonly #s3: S3Client;

  constructor(s3: S3Client) {
    this.#s3 = s3;
  }

  /**
   * The size of an S3 audience in bytes (the number of entries for an inline one).
   * @throws {AudienceNotFoundError} when there is no such object or it may not be read;
   *   {AudienceUnavailableError} when S3 does not answer.
   */
  async size(source: AudienceSource): Promise<number> {
    if (source.kind === 'inline') return source.recipients.length;
    const url = `s3://${source.bucket}/${source.key}`;
    try {
      const head = await this.#s3.send(new HeadObjectCommand({ Bucket: source.bucket, Key: source.key }));
      return head.ContentLength ?? 0;
    } catch (error) {
      throw classify(url, error);
    }
  }

  /** Recipients from `from` on. Stopping the iteration (`return()`) closes the underlying stream. */
  async *read(source: AudienceSource, from: AudienceCursor): AsyncGenerator<AudienceItem> {
    if (source.kind === 'inline') {
      yield* readInline(source.recipients, from);
      return;
    }
    const size = await this.size(source);
    if (from.offset >= size) return;
    const url = `s3://${source.bucket}/${source.key}`;
    let body: AsyncIterable<Uint8Array>;
    try {
      const object = await this.#s3.send(
        new GetObjectCommand({
          Bucket: source.bucket,
          Key: source.key,
          ...(from.offset > 0 ? { Range: `bytes=${from.offset}-` } : {}),
        }),
      );
      if (object.Body === undefined) throw new AudienceUnavailableError(url, new Error('no body in the answer'));
      body = object.Body as AsyncIterable<Uint8Array>;
    } catch (error) {
      throw classify(url, error);
    }
    yield* readAudience(body, source.format, from);
  }
}

/** Inline audiences count entries, not bytes: the cursor's offset is the index of the next entry. */
function* readInline(recipients: readonly AudienceEntry[], from: AudienceCursor): Generator<AudienceItem> {
  for (let i = from.offset; i < recipients.length; i++) {
    const entry = recipients[i] as AudienceEntry;
    yield { ok: true, line: i + 1, after: { offset: i + 1, line: i + 1, csvColumns: null }, entry };
  }
}

function classify(url: string, error: unknown): Error {
  if (error instanceof AudienceNotFoundError || error instanceof AudienceUnavailableError) return error;
  if (error instanceof S3ServiceException) {
    const status = error.$metadata.httpStatusCode ?? 0;
    if (status === 404 || error.name === 'NotFound' || error.name === 'NoSuchKey' || error.name === 'NoSuchBucket') {
      return new AudienceNotFoundError(url, 'no such object');
    }
    if (status === 403)
      return new AudienceNotFoundError(url, 'access denied (check the credentials and bucket policy)');
    if (status >= 400 && status < 500) return new AudienceNotFoundError(url, `${error.name} (HTTP ${status})`);
  }
  return new AudienceUnavailableError(url, error);
}
