// Graceful shutdown of the service process: SIGTERM stops intake, flushes every live recipient's
// state to PostgreSQL, and exits 0.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createPool, sql } from 'slonik';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { type ServiceProcess, startService } from '../support/serviceProcess.ts';
import { waitFor } from '../support/waitFor.ts';

const KEY = 'shutdown-api-key-012345';

describe('switchboard serve on SIGTERM', () => {
  let db: TestDatabase;
  let dataDir: string;
  let service: ServiceProcess;

  beforeAll(async () => {
    db = await createTestDatabase();
    dataDir = await mkdtemp(path.join(tmpdir(), 'sb-shutdown-'));
  });

  afterAll(async () => {
    await service?.stop();
    await db?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('flushes live recipients’ state to the snapshot store and exits 0', async () => {
    service = startService({
      PORT: '0',
      DATABASE_URL: db.url,
      SWITCHBOARD_API_KEYS: KEY,
      SWITCHBOARD_DATA_DIR: dataDir,
      SWITCHBOARD_SHUTDOWN_GRACE_MS: '20000',
    });
    const base = `http://127.0.0.1:${await service.ready()}`;
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const response = await fetch(`${base}/v1/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          channel: 'push',
          to: { id: `device-owner-${i % 5}`, pushTarget: `arn:aws:sns:eu-west-1:1:endpoint/${i}` },
          content: { text: 'hi' },
        }),
      });
      expect(response.status).toBe(202);
      ids.push(((await response.json()) as { id: string }).id);
    }
    await waitFor(
      async () => {
        const states = await Promise.all(
          ids.map(
            async (id) =>
              (
                (await (
                  await fetch(`${base}/v1/messages/${id}`, { headers: { authorization: `Bearer ${KEY}` } })
                ).json()) as { status: string }
              ).status,
          ),
        );
        return states.every((state) => state === 'sent');
      },
      { what: 'all 20 messages sent' },
    );

    expect(await service.stop()).toBe(0);
    const log = service.stdout.join('\n');
    expect(log).toContain('"graceMs":20000');
    expect(log).toContain('switchboard stopped');

    const pool = await createPool(db.url, { maximumPoolSize: 1 });
    try {
      const rows = await pool.any(
        sql.type(z.object({ persistence_key: z.string(), sequence: z.bigint() }))`
          SELECT persistence_key, max(sequence) AS sequence FROM actor_snapshots GROUP BY persistence_key ORDER BY persistence_key`,
      );
      expect(rows).toEqual(
        Array.from({ length: 5 }, (_, i) => ({ persistence_key: `recipient:default:device-owner-${i}`, sequence: 4n })),
      );
    } finally {
      await pool.end();
    }
  });
});
