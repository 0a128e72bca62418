// A recipient's state survives SIGKILL exactly: after a restart it is its last snapshot plus the
// messages it took after that snapshot, as read from PostgreSQL.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createPool, sql } from 'slonik';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { ActorView } from '../../runtime/kernel/introspect.ts';
import { shardOf } from '../../runtime/kernel/EntityRegistry.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { type ServiceProcess, startService } from '../support/serviceProcess.ts';
import { waitFor } from '../support/waitFor.ts';

const KEY = 'recovery-api-key-01234';
const TOKEN = 'recovery-operator-token-0';

describe('recipient state across SIGKILL', () => {
  let db: TestDatabase;
  let dataDir: string;
  let service: ServiceProcess | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
    dataDir = await mkdtemp(path.join(tmpdir(), 'sb-recovery-'));
  });

  afterAll(async () => {
    service?.child.kill('SIGKILL');
    await service?.exited;
    await db?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  const env = {
    DATABASE_URL: '',
    SWITCHBOARD_API_KEYS: KEY,
    SWITCHBOARD_OPERATOR_TOKEN: TOKEN,
    SWITCHBOARD_DATA_DIR: '',
    SWITCHBOARD_RECIPIENT_IDLE_MS: '1500',
    PORT: '0',
  };

  async function send(base: string, channel: 'email' | 'sms', n: number): Promise<string> {
    const to = channel === 'email' ? { id: 'ada', email: 'ada@example.com' } : { id: 'ada', phone: '+447700900123' };
    const response = await fetch(`${base}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel, to, content: { subject: `#${n}`, text: `message ${n}` } }),
    });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    await waitFor(
      async () =>
        (
          (await (
            await fetch(`${base}/v1/messages/${id}`, { headers: { authorization: `Bearer ${KEY}` } })
          ).json()) as { status: string }
        ).status === 'sent',
      { what: `message ${n} sent` },
    );
    return id;
  }

  it('rebuilds the recipient from its snapshot plus the messages after it', async () => {
    const options = { ...env, DATABASE_URL: db.url, SWITCHBOARD_DATA_DIR: dataDir };
    service = startService(options);
    let base = `http://127.0.0.1:${await service.ready()}`;
    for (let n = 1; n <= 3; n++) await send(base, 'email', n);

    const pool = await createPool(db.url, { maximumPoolSize: 1 });
    try {
      const snapshotSequence = () =>
        pool.maybeOneFirst(sql.type(z.object({ sequence: z.bigint() }))`
          SELECT max(sequence) AS sequence FROM actor_snapshots WHERE persistence_key = 'recipient:default:ada'`);
      expect(
        await waitFor(async () => (await snapshotSequence()) === 3n, { what: 'the idle recipient passivated at 3' }),
      ).toBe(true);

      for (let n = 4; n <= 5; n++) await send(base, 'sms', n);
      service.child.kill('SIGKILL');
      await service.exited;
      expect(await snapshotSequence()).toBe(3n);

      service = startService(options);
      base = `http://127.0.0.1:${await service.ready()}`;
      await send(base, 'email', 6);
      const shard = `shard-${String(shardOf('default:ada', 16)).padStart(2, '0')}`;
      const view = (await (
        await fetch(`${base}/ops/actors/switchboard/recipients/${shard}/r:default:ada`, {
          headers: { authorization: `Bearer ${TOKEN}` },
        })
      ).json()) as ActorView;
      expect(view).toMatchObject({ kind: 'recipient', gauges: { sequence: 6 } });

      const taken = await pool.anyFirst(sql.type(z.object({ recipient_seq: z.bigint() }))`
        SELECT recipient_seq FROM messages WHERE tenant = 'default' AND recipient_id = 'ada' ORDER BY recipient_seq`);
      expect(taken).toEqual([1n, 2n, 3n, 4n, 5n, 6n]);
    } finally {
      await pool.end();
    }
  });
});
