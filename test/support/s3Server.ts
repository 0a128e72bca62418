// Starts an s3rver instance on a free loopback port with its own scratch directory, for tests that
// need a real S3 wire protocol (path-style) without any cloud account.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';

export interface S3TestServer {
  endpoint: string;
  client: S3Client;
  close(): Promise<void>;
}

/** Starts s3rver on 127.0.0.1 (port chosen by the OS) and returns a client pointed at it. */
export async function startS3Server(): Promise<S3TestServer> {
  const directory = await mkdtemp(join(tmpdir(), 'switchboard-s3-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory });
  let address: Awaited<ReturnType<S3rver['run']>>;
  try {
    address = await server.run();
  } catch (error) {
    await rm(directory, { recursive: true, force: true });
    throw error;
  }
  if (address === null || typeof address === 'string') {
    await server.close();
    await rm(directory, { recursive: true, force: true });
    throw new Error(`s3rver did not report a TCP address (got ${String(address)})`);
  }
  const endpoint = `http://127.0.0.1:${address.port}`;
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  let closed = false;
  return {
    endpoint,
    client,
    async close() {
      if (closed) return;
      closed = true;
      // Drop the SDK's keep-alive sockets first so the HTTP server's close() does not wait on them.
      client.destroy();
      try {
        await server.close();
      } finally {
        await rm(directory, { recursive: true, force: true });
      }
    },
  };
}
