// `switchboard migrate` as a process: applies the migrations once, and a second run applies nothing.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { REPO_ROOT } from '../support/serviceProcess.ts';

const run = promisify(execFile);

describe('switchboard migrate', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db?.drop();
  });

  const migrate = () =>
    run(process.execPath, [path.join(REPO_ROOT, 'bin/switchboard.ts'), 'migrate'], {
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: db.url },
    });

  it('applies every migration once and is safe to run twice', async () => {
    const first = await migrate();
    expect(first.stdout).toMatch(/^applied \d+ migration\(s\): 0001_messages/);
    const second = await migrate();
    expect(second.stdout).toMatch(/^schema up to date \(\d+ migration\(s\) applied before\)/);
  });

  it('exits 1 with one line when the database is unreachable', async () => {
    const failed = await run(process.execPath, [path.join(REPO_ROOT, 'bin/switchboard.ts'), 'migrate'], {
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' },
    }).catch((error: unknown) => error as { code: number; stderr: string });
    expect('code' in failed && failed.code).toBe(1);
    expect('stderr' in failed && failed.stderr.trim().split('\n')).toHaveLength(1);
    expect('stderr' in failed && failed.stderr).toMatch(
      /^switchboard: cannot reach the database at 127\.0\.0\.1:1\/none/,
    );
  });
});
