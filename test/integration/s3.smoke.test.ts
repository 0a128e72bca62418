// Smoke test for the in-process S3 server (s3rver) with the current AWS SDK: bucket creation, a
// whole-object round trip and a ranged read.
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type S3TestServer, startS3Server } from '../support/s3Server.ts';

const bucket = 'smoke-bucket';
const key = 'events/2024-01-01.ndjson';
const body = '{"n":1,"status":"sent"}\n{"n":2,"status":"delivered"}\n';

describe('s3 smoke', () => {
  let s3: S3TestServer | undefined;

  beforeAll(async () => {
    s3 = await startS3Server();
  });

  afterAll(async () => {
    await s3?.close();
  });

  it('stores an object and reads it back whole and by range', async () => {
    if (s3 === undefined) throw new Error('S3 server was not started');
    const { client } = s3;
    expect(s3.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/x-ndjson' }),
    );

    const whole = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    expect(await whole.Body?.transformToString()).toBe(body);
    expect(whole.ContentLength).toBe(Buffer.byteLength(body));

    const ranged = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: 'bytes=5-9' }));
    expect(await ranged.Body?.transformToString()).toBe(body.slice(5, 10));
    expect(ranged.ContentLength).toBe(5);
    expect(ranged.ContentRange).toBe(`bytes 5-9/${Buffer.byteLength(body)}`);
  });
});
