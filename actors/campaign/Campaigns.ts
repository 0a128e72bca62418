// The campaigns of a running service: creates them (checking their audience can be read), spawns one
// CampaignActor per live campaign under /switchboard/campaigns, passes operators' commands to it,
// resumes running campaigns at start-up, and builds the view `GET /v1/campaigns/{id}` answers with.
import type { ActorRef, AnyActorRef } from '../../runtime/kernel/ActorRef.ts';
import type { ActorSystem } from '../../runtime/kernel/ActorSystem.ts';
import type { MessageState } from '../../runtime/messages/messageState.ts';
import { entityName } from '../../runtime/kernel/EntityRegistry.ts';
import { restartWithBackoff } from '../../supervisors/SupervisionStrategy.ts';
import type { AudienceReader } from './audience/openAudience.ts';
import {
  type CampaignAction,
  type CampaignActorDeps,
  type CampaignMessage,
  CampaignStateError,
  campaignBehavior,
  commandFits,
} from './CampaignActor.ts';
import { type CampaignRequest, describeAudience, newCampaignId, toDefinition } from './campaignDefinition.ts';
import { type CampaignRecord, type CampaignStore, FINAL_STATUSES } from './CampaignStore.ts';
import { type CampaignView, campaignView } from './campaignView.ts';

/** No campaign of that id for the tenant. */
export class CampaignNotFoundError extends Error {
  constructor(id: string) {
    super(`no campaign ${id}`);
    this.name = 'CampaignNotFoundError';
  }
}

export type CampaignsOptions = Omit<CampaignActorDeps, 'finished' | 'audience' | 'store'> & {
  readonly system: ActorSystem;
  /** The `campaigns` supervisor. */
  readonly parent: AnyActorRef;
  readonly store: CampaignStore;
  readonly audience: AudienceReader;
  /** How long a command may wait for the actor (it answers after the slice in hand). */
  readonly askTimeoutMs?: number;
  /** How long a campaign's message counts are reused by views; 1,000 ms by default. */
  readonly countsTtlMs?: number;
};

export class Campaigns {
  readonly #options: CampaignsOptions;
  readonly #live = new Map<string, ActorRef<CampaignMessage>>();
  readonly #countCache = new Map<
    string,
    { readonly at: number; tookMs: number; readonly counts: Promise<Partial<Record<MessageState, number>>> }
  >();
  #closed = false;

  constructor(options: CampaignsOptions) {
    this.#options = options;
  }

  /**
   * Stores a new campaign (a draft, or started at once when the request says `start`).
   * @throws {AudienceNotFoundError} when its S3 audience cannot be read;
   *   {AudienceUnavailableError} when S3 does not answer; {CampaignExistsError} for a taken id.
   */
  async create(tenant: string, request: CampaignRequest): Promise<CampaignRecord> {
    const definition = toDefinition(request);
    const audienceBytes = await this.#options.audience.size(definition.audience);
    const record = await this.#options.store.create({
      tenant,
      id: request.id ?? newCampaignId(),
      name: request.name,
      channel: request.channel,
      definition,
      audienceBytes,
    });
    this.#options.logger.info(
      { campaign: record.id, channel: record.channel, audience: describeAudience(definition.audience) },
      'campaign created',
    );
    return request.start ? this.command(tenant, record.id, 'start') : record;
  }

  /**
   * Starts, pauses, resumes or cancels the campaign; answers once the new status is stored.
   * @throws {CampaignNotFoundError}; {CampaignStateError} when its status does not allow the command.
   */
  async command(tenant: string, id: string, action: CampaignAction): Promise<CampaignRecord> {
    const found = await this.#actor(tenant, id);
    if (!('path' in found)) {
      // A finished campaign has no actor; its status answers the command.
      if (commandFits(action, found.status) === 'noop') return found;
      throw new CampaignStateError(id, action, found.status);
    }
    const ref = found;
    return this.#options.system.ask<CampaignMessage, CampaignRecord>(
      ref,
      (replyTo) => ({ type: 'command', action, replyTo }),
      this.#options.askTimeoutMs ?? 30_000,
    );
  }

  /** The campaign as it stands now: status, counts, progress and ETA; null when there is none. */
  async view(tenant: string, id: string): Promise<CampaignView | null> {
    const ref = this.#live.get(key(tenant, id));
    const record =
      ref !== undefined && this.#options.system.statusOf(ref) === 'running'
        ? await this.#options.system
            .ask<CampaignMessage, CampaignRecord>(ref, (replyTo) => ({ type: 'progress', replyTo }), 5_000)
            .catch(() => this.#options.store.get(tenant, id))
        : await this.#options.store.get(tenant, id);
    if (record === null) return null;
    return campaignView(record, await this.#counts(tenant, id), this.#options.clock.now());
  }

  /**
   * The campaign's messages by state. Counting a large campaign reads all its rows, so a count is
   * reused by every view asked for meanwhile (watchers poll): for `countsTtlMs`, or for 20 times as
   * long as the last count took (at most 5 s), so watching costs the store little.
   */
  #counts(tenant: string, id: string): Promise<Partial<Record<MessageState, number>>> {
    const k = key(tenant, id);
    const now = this.#options.clock.now();
    const cached = this.#countCache.get(k);
    const ttl = Math.min(MAX_COUNTS_TTL_MS, Math.max(this.#options.countsTtlMs ?? 1_000, (cached?.tookMs ?? 0) * 20));
    if (cached !== undefined && now - cached.at < ttl) {
      return cached.counts;
    }
    const startedAt = performance.now();
    const entry = {
      at: now,
      tookMs: cached?.tookMs ?? 0,
      counts: this.#options.store.countsByState(tenant, id),
    };
    const counts = entry.counts;
    void counts.then(
      () => {
        entry.tookMs = performance.now() - startedAt;
      },
      () => {},
    );
    this.#countCache.set(k, entry);
    counts.catch(() => {
      if (this.#countCache.get(k)?.counts === counts) this.#countCache.delete(k);
    });
    if (this.#countCache.size > 1_000) this.#countCache.delete(this.#countCache.keys().next().value as string);
    return counts;
  }

  /** The tenant's newest campaigns (without counts). */
  list(tenant: string, limit: number): Promise<CampaignRecord[]> {
    return this.#options.store.list(tenant, limit);
  }

  /** Spawns the actors of campaigns that were running or scheduled: they carry on from their saved cursors. */
  async resumeActive(): Promise<number> {
    const active = await this.#options.store.active();
    for (const record of active) this.#spawn(record.tenant, record.id);
    if (active.length > 0) {
      this.#options.logger.info({ campaigns: active.map((record) => record.id) }, 'resuming campaigns');
    }
    return active.length;
  }

  /** Stops every campaign actor (each saves its progress); for shutdown. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#live.values()].map((ref) => this.#options.system.stop(ref)));
    this.#live.clear();
  }

  /** The campaign's live actor (spawned if needed), or its record when it is finished. */
  async #actor(tenant: string, id: string): Promise<ActorRef<CampaignMessage> | CampaignRecord> {
    const live = this.#live.get(key(tenant, id));
    if (live !== undefined && this.#options.system.statusOf(live) !== 'stopped') return live;
    const record = await this.#options.store.get(tenant, id);
    if (record === null) throw new CampaignNotFoundError(id);
    if (FINAL_STATUSES.has(record.status)) return record;
    return this.#live.get(key(tenant, id)) ?? this.#spawn(tenant, id);
  }

  #spawn(tenant: string, id: string): ActorRef<CampaignMessage> {
    if (this.#closed) throw new Error('campaigns are closed');
    const k = key(tenant, id);
    const { system, parent, store, audience, ...deps } = this.#options;
    const ref = system.spawn(
      parent,
      entityName('c', k),
      campaignBehavior(system, tenant, id, {
        ...deps,
        store,
        audience,
        finished: (record) => {
          if (!FINAL_STATUSES.has(record.status)) return;
          // Stopped after the message in hand; its record stays in the store.
          setImmediate(() => {
            if (this.#live.get(k) !== ref) return;
            this.#live.delete(k);
            system.stop(ref).catch(() => {});
          });
        },
      }),
      {
        // S3 or the store failing over and over is waited out at the longest backoff, not escalated.
        supervision: restartWithBackoff({
          backoff: { minMs: 500, maxMs: 30_000 },
          intensity: { maxRestarts: Number.MAX_SAFE_INTEGER, withinMs: 60_000 },
        }),
      },
    );
    this.#live.set(k, ref);
    return ref;
  }
}

/** Longest a count is reused, however long counting takes. */
const MAX_COUNTS_TTL_MS = 5_000;

function key(tenant: string, id: string): string {
  return `${tenant}:${id}`;
}
