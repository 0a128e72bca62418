// `switchboard campaign …` as a process against the service as a process (PostgreSQL, an S3 audience
// on s3rver, email to the dev outbox): create, status, start, watch to the end, list, a refused
// pause, and the one-line errors for an unreachable service, a bad key and a wrong command.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { type S3TestServer, startS3Server } from '../support/s3Server.ts';
import { REPO_ROOT, type ServiceProcess, startService } from '../support/serviceProcess.ts';

const KEY = 'campaign-cli-api-key-0123456';
const BUCKET = 'cli-audiences';
const RECIPIENTS = 50;

type CliResult = { code: number; stdout: string; stderr: string };

type View = {
  id: string;
  name: string;
  status: string;
  done: boolean;
  counts: { targeted: number; sent: number; remaining: number };
};

/** A port nothing listens on: taken from the OS, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

describe('switchboard campaign', () => {
  let db: TestDatabase;
  let s3: S3TestServer;
  let dataDir: string;
  let workDir: string;
  let service: ServiceProcess;
  let base: string;

  /** Runs the CLI with only the connection environment (from a scratch directory, so no stray key file). */
  function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [path.join(REPO_ROOT, 'bin/switchboard.ts'), 'campaign', ...args],
        {
          cwd: workDir,
          env: {
            PATH: process.env.PATH ?? '',
            HOME: process.env.HOME ?? '',
            SWITCHBOARD_URL: base,
            SWITCHBOARD_API_KEY: KEY,
            ...env,
          },
          timeout: 90_000,
        },
        (error, stdout, stderr) => {
          const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
          resolve({ code, stdout, stderr });
        },
      );
    });
  }

  beforeAll(async () => {
    db = await createTestDatabase();
    s3 = await startS3Server();
    await s3.client.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const audience = Array.from(
      { length: RECIPIENTS },
      (_, i) => `${JSON.stringify({ id: `u${i + 1}`, email: `u${i + 1}@example.com` })}\n`,
    ).join('');
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'spring.ndjson', Body: audience }));
    dataDir = await mkdtemp(path.join(tmpdir(), 'sb-campaign-cli-data-'));
    workDir = await mkdtemp(path.join(tmpdir(), 'sb-campaign-cli-work-'));
    service = startService({
      PORT: '0',
      DATABASE_URL: db.url,
      SWITCHBOARD_DATA_DIR: dataDir,
      SWITCHBOARD_API_KEYS: KEY,
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
    });
    base = `http://127.0.0.1:${await service.ready()}`;
  });

  afterAll(async () => {
    await service?.stop();
    await s3?.close();
    await db?.drop();
    await rm(dataDir, { recursive: true, force: true });
    await rm(workDir, { recursive: true, force: true });
  });

  it('creates a campaign from flags and shows it as a draft', async () => {
    const created = await cli([
      'create',
      '--id',
      'cli-spring',
      '--name',
      'Spring sale',
      '--channel',
      'email',
      '--audience',
      `s3://${BUCKET}/spring.ndjson`,
      '--format',
      'ndjson',
      '--subject',
      'Spring sale',
      '--text',
      'Everything is 20% off.',
    ]);
    expect(created).toMatchObject({ code: 0, stderr: '' });
    expect(created.stdout).toContain('created campaign cli-spring (draft)');

    const status = await cli(['status', 'cli-spring', '--json']);
    expect(status.code).toBe(0);
    const view = JSON.parse(status.stdout) as View;
    expect(view).toMatchObject({ id: 'cli-spring', name: 'Spring sale', status: 'draft', done: false });

    const readable = await cli(['status', 'cli-spring']);
    expect(readable.code).toBe(0);
    expect(readable.stdout).toMatch(/^campaign cli-spring "Spring sale"\n/);
    expect(readable.stdout).toMatch(/status +draft/);
    expect(readable.stdout).toContain(`s3://${BUCKET}/spring.ndjson (ndjson)`);
  });

  it('creates a campaign from a --file spec with flags laid over it, printing JSON', async () => {
    const spec = path.join(workDir, 'spec.json');
    await writeFile(
      spec,
      JSON.stringify({
        name: 'from the file',
        channel: 'email',
        content: { subject: 'Hello', text: 'Hi there.' },
        audience: [{ id: 'inline-1', email: 'inline-1@example.com' }],
      }),
    );
    const created = await cli(['create', '--file', spec, '--name', 'from the flags', '--json']);
    expect(created.code).toBe(0);
    const view = JSON.parse(created.stdout) as View;
    expect(view).toMatchObject({ name: 'from the flags', status: 'draft' });
    expect(view.id).toMatch(/^cmp_/);
  });

  it('starts the campaign and watches it until every send is done', async () => {
    const started = await cli(['start', 'cli-spring']);
    expect(started.code).toBe(0);
    expect(started.stdout).toMatch(/^campaign cli-spring is (running|completed)/);

    const watched = await cli(['watch', 'cli-spring', '--interval', '200']);
    expect(watched.stderr).toBe('');
    expect(watched.code).toBe(0);
    const lines = watched.stdout.trim().split('\n');
    // Standard output is a pipe here, so progress comes as plain lines, then the summary.
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines.slice(0, -1).every((line) => /^\w+: \d+\/\d+ sent, .* sends\/s, ETA /.test(line))).toBe(true);
    expect(lines.at(-1)).toMatch(
      new RegExp(`^campaign cli-spring completed.*: ${RECIPIENTS} sent, 0 failed, 0 suppressed, 0 malformed`),
    );

    const status = JSON.parse((await cli(['status', 'cli-spring', '--json'])).stdout) as View;
    expect(status).toMatchObject({ status: 'completed', done: true });
    expect(status.counts).toMatchObject({ targeted: RECIPIENTS, sent: RECIPIENTS, remaining: 0 });
  });

  it('lists the campaigns', async () => {
    const listed = await cli(['list']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^ID +STATUS +CHANNEL +CREATED +NAME\n/);
    expect(listed.stdout).toMatch(/cli-spring +completed +email +\S+ +Spring sale/);
    const json = JSON.parse((await cli(['list', '--json'])).stdout) as { campaigns: Array<{ id: string }> };
    expect(json.campaigns.map((c) => c.id)).toContain('cli-spring');
  });

  it('stops watching a cancelled campaign', async () => {
    const created = await cli([
      'create',
      '--id',
      'cli-paced',
      '--name',
      'Paced',
      '--channel',
      'email',
      '--audience',
      `s3://${BUCKET}/spring.ndjson`,
      '--subject',
      'Slowly',
      '--text',
      'One a second.',
      '--rate',
      '1',
      '--start',
    ]);
    expect(created.code).toBe(0);
    expect((await cli(['cancel', 'cli-paced'])).stdout).toMatch(/^campaign cli-paced is cancelled/);
    const watched = await cli(['watch', 'cli-paced', '--interval', '100']);
    expect(watched.code).toBe(0);
    expect(watched.stdout.trim().split('\n').at(-1)).toMatch(/^campaign cli-paced cancelled/);
  });

  it('reports a refused action with the service detail and exit 1', async () => {
    const paused = await cli(['pause', 'cli-spring']);
    expect(paused.code).toBe(1);
    expect(paused.stdout).toBe('');
    expect(paused.stderr).toBe('switchboard: campaign cli-spring is completed; it cannot pause\n');

    const missing = await cli(['status', 'no-such-campaign']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('switchboard: no campaign no-such-campaign; see: switchboard campaign list\n');
  });

  it('fails with one line when the service cannot be reached or refuses the key', async () => {
    const port = await closedPort();
    const unreachable = await cli(['list', '--url', `http://127.0.0.1:${port}`]);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toBe(
      `switchboard: cannot reach http://127.0.0.1:${port} (ECONNREFUSED); is the service running? set --url or SWITCHBOARD_URL\n`,
    );

    const wrongKey = await cli(['status', 'cli-spring'], { SWITCHBOARD_API_KEY: 'not-a-key-of-this-service' });
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr.trim().split('\n')).toHaveLength(1);
    expect(wrongKey.stderr).toMatch(/^switchboard: .*set --api-key or SWITCHBOARD_API_KEY/);
    expect(wrongKey.stderr).not.toContain('not-a-key-of-this-service');
  });

  it('exits 2 with one line for a command-line mistake', async () => {
    const unknown = await cli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(
      /^switchboard: unknown campaign command "frobnicate"; use one of create, list, .*\n$/,
    );

    const noId = await cli(['status']);
    expect(noId.code).toBe(2);
    expect(noId.stderr).toMatch(/^switchboard: campaign status needs a campaign id/);

    const badChannel = await cli(['create', '--name', 'x', '--channel', 'pigeon', '--audience', 's3://b/k']);
    expect(badChannel.code).toBe(2);
    expect(badChannel.stderr).toMatch(/^switchboard: --channel must be one of email, sms, push, webhook/);
  });
});
