// The live actor tree of a running service on PostgreSQL: the shape of ARCHITECTURE §2 in /ops/actors,
// shards summarised with 100k live recipients, one actor by path, metrics, and recipient state
// surviving passivation through the snapshot store.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'slonik';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { RecipientState } from '../../actors/recipient/RecipientActor.ts';
import { loadConfig } from '../../runtime/config/loadConfig.ts';
import type { ReplyTo } from '../../runtime/kernel/ActorRef.ts';
import type { ActorView } from '../../runtime/kernel/introspect.ts';
import { createLogger } from '../../runtime/logging/createLogger.ts';
import { Switchboard } from '../../runtime/service/Switchboard.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { waitFor } from '../support/waitFor.ts';

const API_KEY = 'tree-test-api-key-0123';
const OPERATOR_TOKEN = 'tree-test-operator-token';
const LIVE_RECIPIENTS = 100_000;

describe('actor tree of a running service', () => {
  let db: TestDatabase;
  let dataDir: string;
  let service: Switchboard;
  let base: string;
  const ops = (route: string) => fetch(`${base}${route}`, { headers: { authorization: `Bearer ${OPERATOR_TOKEN}` } });

  beforeAll(async () => {
    db = await createTestDatabase();
    dataDir = await mkdtemp(path.join(tmpdir(), 'sb-tree-'));
    const config = loadConfig({
      PORT: '0',
      DATABASE_URL: db.url,
      SWITCHBOARD_DATA_DIR: dataDir,
      SWITCHBOARD_API_KEYS: API_KEY,
      SWITCHBOARD_OPERATOR_TOKEN: OPERATOR_TOKEN,
      SWITCHBOARD_RECIPIENT_SHARDS: '16',
      SWITCHBOARD_RECIPIENT_MAX_LIVE: String(LIVE_RECIPIENTS),
    });
    service = await Switchboard.start({ config, logger: createLogger({ level: 'warn' }) });
    base = `http://127.0.0.1:${service.port}`;
  });

  afterAll(async () => {
    await service?.stop();
    await db?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  const inspectRecipient = (key: string) =>
    service.tree.recipients.ask(
      key,
      (replyTo: ReplyTo<RecipientState>) => ({ type: 'inspect' as const, replyTo }),
      10_000,
    );

  it('shows bridges, channels, recipients and campaigns with their fields', async () => {
    const response = await ops('/ops/actors?depth=3');
    expect(response.status).toBe(200);
    const root = (await response.json()) as ActorView;
    expect(root.path).toBe('/switchboard');
    expect(root.children?.map((c) => c.name)).toEqual(['bridges', 'channels', 'recipients', 'campaigns']);
    const channels = root.children?.find((c) => c.name === 'channels');
    expect(channels?.children?.map((c) => c.name)).toEqual(['email', 'sms', 'push', 'webhook']);
    const email = channels?.children?.[0];
    expect(email).toMatchObject({
      kind: 'channel',
      status: 'running',
      mailbox: 0,
      failures: 0,
      restarts: 0,
      lastError: null,
    });
    expect(email?.gauges).toMatchObject({ providers: 'dev-outbox', queued: 0, inFlight: 0, overflow: false });
    const connection = email?.children?.[0];
    expect(connection).toMatchObject({ name: 'dev-outbox', kind: 'provider', status: 'running' });
    expect(connection?.gauges).toMatchObject({ breaker: 'closed', inFlight: 0, window: 32 });
    expect(root.children?.find((c) => c.name === 'recipients')?.childCount).toBe(16);
  });

  it('summarises shards with 100k live recipients instead of listing them', async () => {
    for (let i = 0; i < LIVE_RECIPIENTS; i++) {
      service.tree.recipients.tell(`default:user-${i}`, {
        type: 'inspect',
        replyTo: { reply: () => {}, fail: () => {} },
      });
    }
    await waitFor(
      () =>
        service.tree.system.counts().find((row) => row.kind === 'recipient' && row.status === 'running')?.count ===
        LIVE_RECIPIENTS,
      { timeoutMs: 120_000, what: `${LIVE_RECIPIENTS} running recipients` },
    );
    const response = await ops('/ops/actors?depth=3');
    const body = await response.text();
    expect(body.length).toBeLessThan(50_000);
    const root = JSON.parse(body) as ActorView;
    const shards = root.children?.find((c) => c.name === 'recipients')?.children ?? [];
    expect(shards).toHaveLength(16);
    let total = 0;
    for (const shard of shards) {
      expect(shard.kind).toBe('shard');
      expect(shard.children).toBeUndefined();
      expect(shard.summary?.running).toBe(shard.childCount);
      total += shard.childCount;
    }
    expect(total).toBe(LIVE_RECIPIENTS);

    const one = await ops(`/ops/actors/switchboard/recipients/${shards[0]?.name}?limit=5`);
    const shard = (await one.json()) as ActorView;
    expect(shard.children).toHaveLength(5);
    expect(shard.truncated).toBe(true);
    expect(shard.children?.[0]?.kind).toBe('recipient');
  });

  it('answers one actor by its path, and 404 for an unknown one', async () => {
    const email = await ops('/ops/actors/switchboard/channels/email');
    expect(((await email.json()) as ActorView).path).toBe('/switchboard/channels/email');
    expect((await ops('/ops/actors/switchboard/nowhere')).status).toBe(404);
    expect((await fetch(`${base}/ops/actors`)).status).toBe(401);
  });

  it('exports Prometheus metrics with actor counts, restarts, dead letters and mailbox depth', async () => {
    expect((await fetch(`${base}/metrics`)).status).toBe(401);
    const text = await (await ops('/metrics')).text();
    expect(text).toMatch(/switchboard_actors\{kind="recipient",status="running"\} \d+/);
    expect(text).toContain('switchboard_actor_restarts_total');
    expect(text).toContain('switchboard_dead_letters_total');
    expect(text).toMatch(/switchboard_actor_mailbox_depth\{path="\/switchboard\/channels\/email",kind="channel"\} 0/);
    expect(text).toMatch(/switchboard_entities_live\{registry="recipients"\} \d+/);
  });

  it('keeps a recipient’s state across passivation through the snapshot store', async () => {
    const key = 'default:user-passivated';
    const send = await fetch(`${base}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        channel: 'sms',
        to: { id: 'user-passivated', phone: '+447700900123' },
        content: { text: 'hi' },
      }),
    });
    expect(send.status).toBe(202);
    const before = await waitFor(async () => {
      const state = await inspectRecipient(key);
      return state.sequence === 1 && state;
    });
    expect(before.byChannel).toEqual({ sms: 1 });

    await service.tree.recipients.passivate(key);
    expect(service.tree.recipients.isLive(key)).toBe(false);
    const stored = await service.database.pool.maybeOne(
      sql.type(z.object({ sequence: z.bigint(), state: z.record(z.string(), z.unknown()) }))`
        SELECT sequence, state FROM actor_snapshots WHERE persistence_key = ${`recipient:${key}`} ORDER BY sequence DESC LIMIT 1`,
    );
    expect(stored?.sequence).toBe(1n);
    expect(stored?.state).toMatchObject({ byChannel: { sms: 1 } });

    const after = await inspectRecipient(key);
    expect(after).toEqual({ ...before, savedSequence: 1 });
  });
});
