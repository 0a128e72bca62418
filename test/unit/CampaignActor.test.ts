// The campaign actor on a fake clock with in-memory stand-ins for its store, audience and intake:
// pacing by ratePerSecond, waiting on the channel's backlog, a scheduled start, pause and resume
// from the cursor, and progress snapshots.
import { describe, expect, it } from 'vitest';
import type { AudienceCursor, AudienceItem } from '../../actors/campaign/audience/readAudience.ts';
import { type CampaignAction, campaignBehavior, type CampaignMessage } from '../../actors/campaign/CampaignActor.ts';
import type { CampaignDefinition } from '../../actors/campaign/campaignDefinition.ts';
import type {
  CampaignProgress,
  CampaignRecord,
  CampaignStatus,
  StatusChange,
} from '../../actors/campaign/CampaignStore.ts';
import type { IntakeOutcome } from '../../actors/bridge/SendIntake.ts';
import type { ReplyTo } from '../../runtime/kernel/ActorRef.ts';
import type { SendRequest } from '../../runtime/messages/sendRequest.ts';
import { testSystem, until } from './kernel/support.ts';

const AUDIENCE = 1_000;

function world(definition: Partial<CampaignDefinition> = {}, status: CampaignStatus = 'draft') {
  const { system, clock } = testSystem();
  let record: CampaignRecord = {
    tenant: 't',
    id: 'c1',
    name: 'Test',
    channel: 'email',
    definition: {
      content: { text: 'hi' },
      priority: 'marketing',
      audience: { kind: 's3', bucket: 'b', key: 'k', format: 'ndjson' },
      ratePerSecond: null,
      startAt: null,
      ...definition,
    },
    status,
    cursor: { offset: 0, line: 0, csvColumns: null },
    audienceBytes: AUDIENCE,
    targeted: 0,
    malformed: 0,
    malformedLines: [],
    error: null,
    createdAt: 0,
    updatedAt: 0,
    startedAt: null,
    finishedAt: null,
  };
  const accepted: SendRequest[] = [];
  const saves: CampaignProgress[] = [];
  let backlog = 0;
  const store = {
    get: () => Promise.resolve(record),
    changeStatus(
      _tenant: string,
      _id: string,
      from: readonly CampaignStatus[],
      to: CampaignStatus,
      change: StatusChange = {},
    ) {
      if (!from.includes(record.status)) return Promise.resolve(null);
      record = {
        ...record,
        ...(change.progress ?? {}),
        status: to,
        startedAt: change.started ? (record.startedAt ?? clock.now()) : record.startedAt,
        finishedAt: change.finished ? clock.now() : record.finishedAt,
      };
      return Promise.resolve(record);
    },
    saveProgress(_tenant: string, _id: string, progress: CampaignProgress) {
      saves.push(progress);
      record = { ...record, ...progress };
      return Promise.resolve();
    },
  };
  // One recipient per "byte": the cursor's offset is the index of the next one.
  async function* read(_source: unknown, from: AudienceCursor): AsyncGenerator<AudienceItem> {
    for (let i = from.offset; i < AUDIENCE; i++) {
      await Promise.resolve();
      const after = { offset: i + 1, line: i + 1, csvColumns: null };
      yield i % 100 === 99
        ? { ok: false, line: i + 1, after, reason: 'bad line' }
        : { ok: true, line: i + 1, after, entry: { id: `u${i}`, email: `u${i}@example.com` } };
    }
  }
  const intake = {
    accept(_tenant: string, requests: readonly SendRequest[]): Promise<IntakeOutcome[]> {
      accepted.push(...requests);
      return Promise.resolve(requests.map((_, i) => ({ kind: 'accepted', id: `m${i}`, created: true })));
    },
    isOpen: () => true,
    onPressure: () => () => {},
  };
  const finished: CampaignRecord[] = [];
  const ref = system.spawn(
    system.root,
    'c1',
    campaignBehavior(system, 't', 'c1', {
      store,
      audience: { read },
      intake,
      backlog: { count: () => backlog },
      maxBacklog: 500,
      clock,
      logger: system.logger,
      sliceSize: 100,
      snapshotEvery: 250,
      retryMs: 1_000,
      finished: (r) => finished.push(r),
    }),
  );
  const command = (action: CampaignAction) =>
    system.ask<CampaignMessage, CampaignRecord>(
      ref,
      (replyTo: ReplyTo<CampaignRecord>) => ({ type: 'command', action, replyTo }),
      1_000,
    );
  return {
    clock,
    accepted,
    saves,
    finished,
    command,
    record: () => record,
    setBacklog: (n: number) => {
      backlog = n;
    },
  };
}

describe('CampaignActor', () => {
  it('reads the whole audience unthrottled, keyed campaignId:recipientId, skipping malformed lines', async () => {
    const w = world();
    expect((await w.command('start')).status).toBe('running');
    await until(() => w.record().status === 'completed', 'completed');
    expect(w.accepted).toHaveLength(990);
    expect(new Set(w.accepted.map((r) => r.idempotencyKey)).size).toBe(990);
    expect(w.accepted[0]).toMatchObject({ idempotencyKey: 'c1:u0', campaignId: 'c1', priority: 'marketing' });
    expect(w.record()).toMatchObject({ targeted: 990, malformed: 10, cursor: { offset: AUDIENCE } });
    expect(w.record().malformedLines.map((m) => m.line)).toEqual([100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
    expect(w.saves.length).toBeGreaterThanOrEqual(3);
    expect(w.finished.map((r) => r.status)).toEqual(['completed']);
  });

  it('paces by ratePerSecond on the clock', async () => {
    const w = world({ ratePerSecond: 100 });
    await w.command('start');
    // The first second's burst, then nothing until the clock moves.
    await until(() => w.accepted.length === 100, 'the first burst');
    for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(w.accepted).toHaveLength(100);
    w.clock.advance(1_000);
    await until(() => w.accepted.length >= 199, 'a second later');
    expect(w.accepted.length).toBeLessThanOrEqual(200);
    w.clock.advance(500);
    await until(() => w.accepted.length >= 248, 'half a second later');
    expect(w.accepted.length).toBeLessThanOrEqual(250);
  });

  it('waits while its channel has too many unfinished sends', async () => {
    const w = world();
    w.setBacklog(500);
    await w.command('start');
    for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(w.accepted).toHaveLength(0);
    w.setBacklog(10);
    w.clock.advance(100);
    await until(() => w.record().status === 'completed', 'completed once the backlog drained');
  });

  it('starts at startAt, not before', async () => {
    const w = world({ startAt: new Date(1_000_000 + 60_000).toISOString() });
    expect((await w.command('start')).status).toBe('scheduled');
    w.clock.advance(59_000);
    for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(w.accepted).toHaveLength(0);
    w.clock.advance(1_000);
    await until(() => w.record().status === 'completed', 'completed after its start time');
    expect(w.record().startedAt).toBe(1_000_000 + 60_000);
  });

  it('pauses with its cursor saved, resumes from it, and refuses commands a final status does not allow', async () => {
    const w = world({ ratePerSecond: 200 });
    await w.command('start');
    await until(() => w.accepted.length === 200, 'the first burst');
    const paused = await w.command('pause');
    expect(paused.status).toBe('paused');
    expect(paused.cursor.offset).toBeGreaterThanOrEqual(200);
    w.clock.advance(10_000);
    for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(w.accepted).toHaveLength(200);
    expect((await w.command('pause')).status).toBe('paused');
    await w.command('resume');
    // 200 a second: four more seconds of the clock for the rest.
    for (let second = 0; second < 5 && w.record().status !== 'completed'; second++) {
      const before = w.accepted.length;
      await until(() => w.accepted.length > before || w.record().status === 'completed', 'a second of sends');
      for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve));
      w.clock.advance(1_000);
    }
    await until(() => w.record().status === 'completed', 'completed after resume');
    // Nobody twice: the resumed reading started at the saved cursor.
    expect(new Set(w.accepted.map((r) => r.idempotencyKey)).size).toBe(w.accepted.length);
    expect(w.accepted).toHaveLength(990);
    await expect(w.command('resume')).rejects.toThrow(/is completed; it cannot resume/);
  });
});
