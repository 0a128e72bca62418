// The campaigns table: a campaign's definition, its control status and the campaign actor's progress
// snapshot (audience cursor, recipients read, malformed lines); and a campaign's message counts by
// state, read from its messages.
import { type DatabasePool, sql } from 'slonik';
import { z } from 'zod';
import { MESSAGE_STATES, type MessageState } from '../../runtime/messages/messageState.ts';
import { CHANNELS, type Channel } from '../../runtime/messages/sendRequest.ts';
import { translateStoreError } from '../../runtime/persistence/StoreError.ts';
import { type Clock, systemClock } from '../../runtime/time/Clock.ts';
import type { AudienceCursor } from './audience/readAudience.ts';
import type { CampaignDefinition } from './campaignDefinition.ts';

export const CAMPAIGN_STATUSES = [
  'draft',
  'scheduled',
  'running',
  'paused',
  'completed',
  'cancelled',
  'failed',
] as const;
export type CampaignStatus = (typeof CAMPAIGN_STATUSES)[number];

/** Statuses a campaign never leaves. */
export const FINAL_STATUSES: ReadonlySet<CampaignStatus> = new Set(['completed', 'cancelled', 'failed']);

export type MalformedLine = { readonly line: number; readonly reason: string };

/** Malformed lines kept with a campaign (the count goes on past it). */
export const MAX_MALFORMED_LINES = 100;

/** The campaign actor's progress: saved every N recipients, on pause, at the end and at shutdown. */
export type CampaignProgress = {
  readonly cursor: AudienceCursor;
  readonly audienceBytes: number | null;
  /** Valid recipients read and handed to acceptance. */
  readonly targeted: number;
  readonly malformed: number;
  readonly malformedLines: readonly MalformedLine[];
};

export type CampaignRecord = CampaignProgress & {
  readonly tenant: string;
  readonly id: string;
  readonly name: string;
  readonly channel: Channel;
  readonly definition: CampaignDefinition;
  readonly status: CampaignStatus;
  readonly error: string | null;
  /** Epoch milliseconds. */
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly startedAt: number | null;
  readonly finishedAt: number | null;
};

/** A campaign of that id exists already for the tenant. */
export class CampaignExistsError extends Error {
  constructor(id: string) {
    super(`campaign ${id} exists already`);
    this.name = 'CampaignExistsError';
  }
}

const campaignRow = z.object({
  tenant: z.string(),
  id: z.string(),
  name: z.string(),
  channel: z.enum(CHANNELS),
  definition: z.unknown(),
  status: z.enum(CAMPAIGN_STATUSES),
  cursor_offset: z.union([z.bigint(), z.number()]),
  cursor_line: z.union([z.bigint(), z.number()]),
  csv_columns: z.array(z.string()).nullable(),
  audience_bytes: z.union([z.bigint(), z.number()]).nullable(),
  targeted: z.union([z.bigint(), z.number()]),
  malformed: z.union([z.bigint(), z.number()]),
  malformed_lines: z.array(z.object({ line: z.number(), reason: z.string() })),
  error: z.string().nullable(),
  created_at: z.number(),
  updated_at: z.number(),
  started_at: z.number().nullable(),
  finished_at: z.number().nullable(),
});
type CampaignRow = z.output<typeof campaignRow>;

const COLUMNS = sql.fragment`tenant, id, name, channel, definition, status, cursor_offset, cursor_line, csv_columns,
  audience_bytes, targeted, malformed, malformed_lines, error, created_at, updated_at, started_at, finished_at`;

function toRecord(row: CampaignRow): CampaignRecord {
  return {
    tenant: row.tenant,
    id: row.id,
    name: row.name,
    channel: row.channel,
    definition: row.definition as CampaignDefinition,
    status: row.status,
    cursor: { offset: Number(row.cursor_offset), line: Number(row.cursor_line), csvColumns: row.csv_columns },
    audienceBytes: row.audience_bytes === null ? null : Number(row.audience_bytes),
    targeted: Number(row.targeted),
    malformed: Number(row.malformed),
    malformedLines: row.malformed_lines,
    error: row.error,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}

export type NewCampaign = {
  readonly tenant: string;
  readonly id: string;
  readonly name: string;
  readonly channel: Channel;
  readonly definition: CampaignDefinition;
  readonly audienceBytes: number;
};

export type StatusChange = {
  readonly error?: string;
  /** Sets started_at unless it is set already. */
  readonly started?: boolean;
  readonly finished?: boolean;
  /** Saved in the same statement. */
  readonly progress?: CampaignProgress;
};

export class CampaignStore {
  readonly #pool: DatabasePool;
  readonly #clock: Clock;

  constructor(pool: DatabasePool, options: { readonly clock?: Clock } = {}) {
    this.#pool = pool;
    this.#clock = options.clock ?? systemClock();
  }

  /** @throws {CampaignExistsError} when the tenant has a campaign of that id. */
  async create(campaign: NewCampaign): Promise<CampaignRecord> {
    const now = sql.timestamp(new Date(this.#clock.now()));
    const row = await this.#run('create a campaign', () =>
      this.#pool.maybeOne(sql.type(campaignRow)`
        INSERT INTO campaigns (tenant, id, name, channel, definition, status, audience_bytes, created_at, updated_at)
        VALUES (${campaign.tenant}, ${campaign.id}, ${campaign.name}, ${campaign.channel},
                ${JSON.stringify(campaign.definition)}::jsonb, 'draft', ${campaign.audienceBytes}, ${now}, ${now})
        ON CONFLICT (tenant, id) DO NOTHING
        RETURNING ${COLUMNS}`),
    );
    if (row === null) throw new CampaignExistsError(campaign.id);
    return toRecord(row);
  }

  async get(tenant: string, id: string): Promise<CampaignRecord | null> {
    const row = await this.#run('read a campaign', () =>
      this.#pool.maybeOne(
        sql.type(campaignRow)`SELECT ${COLUMNS} FROM campaigns WHERE tenant = ${tenant} AND id = ${id}`,
      ),
    );
    return row === null ? null : toRecord(row);
  }

  /** The tenant's newest campaigns, newest first. */
  async list(tenant: string, limit: number): Promise<CampaignRecord[]> {
    const rows = await this.#run('list campaigns', () =>
      this.#pool.any(sql.type(campaignRow)`
        SELECT ${COLUMNS} FROM campaigns WHERE tenant = ${tenant} ORDER BY created_at DESC, id LIMIT ${limit}`),
    );
    return rows.map(toRecord);
  }

  /** Campaigns that were running or waiting for their start time: their actors resume them at start-up. */
  async active(): Promise<CampaignRecord[]> {
    const rows = await this.#run('read active campaigns', () =>
      this.#pool.any(sql.type(campaignRow)`
        SELECT ${COLUMNS} FROM campaigns WHERE status IN ('scheduled', 'running') ORDER BY created_at`),
    );
    return rows.map(toRecord);
  }

  /**
   * Moves the campaign to `to` if its status is one of `from`; returns the updated record, or null
   * when its status was another (the caller reads it to say why).
   */
  async changeStatus(
    tenant: string,
    id: string,
    from: readonly CampaignStatus[],
    to: CampaignStatus,
    change: StatusChange = {},
  ): Promise<CampaignRecord | null> {
    const now = sql.timestamp(new Date(this.#clock.now()));
    const progress =
      change.progress === undefined ? sql.fragment`` : sql.fragment`, ${progressAssignments(change.progress)}`;
    const row = await this.#run(`set campaign ${id} ${to}`, () =>
      this.#pool.maybeOne(sql.type(campaignRow)`
        UPDATE campaigns
           SET status = ${to}, updated_at = ${now},
               error = ${change.error ?? null}::text,
               started_at = CASE WHEN ${change.started === true} THEN coalesce(started_at, ${now}) ELSE started_at END,
               finished_at = CASE WHEN ${change.finished === true} THEN ${now} ELSE finished_at END
               ${progress}
         WHERE tenant = ${tenant} AND id = ${id} AND status = ANY(${sql.array([...from], 'text')})
        RETURNING ${COLUMNS}`),
    );
    return row === null ? null : toRecord(row);
  }

  /** Saves the actor's progress snapshot (its status stays as it is). */
  async saveProgress(tenant: string, id: string, progress: CampaignProgress): Promise<void> {
    const now = sql.timestamp(new Date(this.#clock.now()));
    await this.#run(`save campaign ${id} progress`, () =>
      this.#pool.query(sql.unsafe`
        UPDATE campaigns SET updated_at = ${now}, ${progressAssignments(progress)}
         WHERE tenant = ${tenant} AND id = ${id}`),
    );
  }

  /** The campaign's messages by state. */
  async countsByState(tenant: string, id: string): Promise<Partial<Record<MessageState, number>>> {
    const rows = await this.#run(`count campaign ${id} messages`, () =>
      this.#pool.any(sql.type(z.object({ state: z.enum(MESSAGE_STATES), count: z.number() }))`
        SELECT state, count(*)::int AS count FROM messages
         WHERE campaign_id = ${id} AND tenant = ${tenant}
         GROUP BY state`),
    );
    return Object.fromEntries(rows.map((row) => [row.state, row.count]));
  }

  async #run<T>(action: string, query: () => Promise<T>): Promise<T> {
    try {
      return await query();
    } catch (error) {
      throw translateStoreError(error, action);
    }
  }
}

function progressAssignments(progress: CampaignProgress) {
  return sql.fragment`cursor_offset = ${progress.cursor.offset}, cursor_line = ${progress.cursor.line},
    csv_columns = ${progress.cursor.csvColumns === null ? null : JSON.stringify(progress.cursor.csvColumns)}::jsonb,
    audience_bytes = ${progress.audienceBytes}, targeted = ${progress.targeted}, malformed = ${progress.malformed},
    malformed_lines = ${JSON.stringify(progress.malformedLines)}::jsonb`;
}
