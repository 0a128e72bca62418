// Tenant templates in PostgreSQL: immutable numbered versions, parsed once and kept in a bounded
// in-memory cache, so rendering a campaign of a million recipients parses and reads a template once.
import type { DatabasePool } from 'slonik';
import { type Channel, describeIssues } from '../messages/sendRequest.ts';
import { translateStoreError } from '../persistence/StoreError.ts';
import { type Clock, systemClock } from '../time/Clock.ts';
import { LruCache } from './LruCache.ts';
import {
  type CompiledParts,
  type RenderedContent,
  TemplateEngine,
  type TemplateEngineOptions,
  type TemplateRecipient,
} from './TemplateEngine.ts';
import {
  TemplateInvalidError,
  TemplateParseError,
  TemplateRenderError,
  TemplateVersionConflictError,
} from './TemplateError.ts';
import { missingPartFor, type TemplateInput, templateInputSchema } from './templateInput.ts';
import {
  insertNextVersion,
  selectExistingIds,
  selectLatestTemplates,
  selectTemplate,
  type TemplateRow,
} from './templateSql.ts';

/** One stored version of a template, as created. */
export type TemplateVersion = {
  readonly id: string;
  readonly version: number;
  /** The channel the template is for; null when it may be used on any channel. */
  readonly channel: Channel | null;
  readonly subject: string | null;
  readonly text: string | null;
  readonly html: string | null;
  /** ISO 8601. */
  readonly createdAt: string;
};

/** A template in a listing: its latest version. */
export type TemplateSummary = {
  readonly id: string;
  readonly latestVersion: number;
  readonly channel: Channel | null;
  readonly createdAt: string;
};

/** What a message names: `template: { id, vars }`, optionally pinned to a version. */
export type TemplateReference = {
  readonly id: string;
  /** Without it, the latest version (as known within `latestTtlMs`). */
  readonly version?: number | undefined;
  readonly vars?: Readonly<Record<string, unknown>> | undefined;
};

export type TemplateStoreOptions = {
  /** Parsed template versions kept in memory, least recently used dropped first. Default 1,000. */
  readonly cacheSize?: number;
  /**
   * How long "the latest version of id" is trusted without asking the database. A version created
   * through this store is seen at once; one created by another process within this time. Default 5,000.
   */
  readonly latestTtlMs?: number;
  /** Attempts at taking the next version number when creates of one id race. Default 20. */
  readonly maxVersionAttempts?: number;
  readonly clock?: Clock;
  readonly engine?: TemplateEngineOptions;
};

export type TemplateStoreStats = {
  /** Queries sent to the database. */
  readonly queries: number;
  /** Template versions parsed (at creation, and on a cache miss). */
  readonly parses: number;
  /** Renders served from a parsed version already in memory. */
  readonly cacheHits: number;
  readonly cacheMisses: number;
  readonly evictions: number;
  /** Parsed versions in memory now. */
  readonly cached: number;
  readonly renders: number;
  readonly renderFailures: number;
};

type CachedTemplate = {
  readonly id: string;
  readonly version: number;
  readonly channel: Channel | null;
  readonly parts: CompiledParts;
};

const DEFAULT_LIST_LIMIT = 100;
export const MAX_LIST_LIMIT = 500;

export class TemplateStore {
  readonly #pool: DatabasePool;
  readonly #engine: TemplateEngine;
  readonly #clock: Clock;
  readonly #latestTtlMs: number;
  readonly #maxVersionAttempts: number;
  /** Parsed versions by tenant, id and version; versions never change, so entries never go stale. */
  readonly #parsed: LruCache<string, CachedTemplate>;
  /** The latest version of a tenant's id, and until when to trust it. */
  readonly #latest: LruCache<string, { readonly version: number; readonly until: number }>;
  /** Ids known to exist. Templates are never deleted, so a yes stays true. */
  readonly #known: LruCache<string, true>;
  /** Loads under way, so a burst of renders of one template sends one query. */
  readonly #loading = new Map<string, Promise<CachedTemplate | null>>();
  readonly #stats = { queries: 0, parses: 0, cacheHits: 0, cacheMisses: 0, renders: 0, renderFailures: 0 };

  constructor(pool: DatabasePool, options: TemplateStoreOptions = {}) {
    this.#pool = pool;
    this.#engine = new TemplateEngine(options.engine);
    this.#clock = options.clock ?? systemClock();
    this.#latestTtlMs = options.latestTtlMs ?? 5_000;
    if (!(this.#latestTtlMs >= 0)) throw new RangeError('latestTtlMs must be 0 or more');
    this.#maxVersionAttempts = options.maxVersionAttempts ?? 20;
    if (!Number.isSafeInteger(this.#maxVersionAttempts) || this.#maxVersionAttempts < 1)
      throw new RangeError('maxVersionAttempts must be a positive integer');
    const cacheSize = options.cacheSize ?? 1_000;
    this.#parsed = new LruCache(cacheSize);
    this.#latest = new LruCache(cacheSize);
    this.#known = new LruCache(cacheSize * 10);
  }

  /** A copy of the counters. */
  stats(): TemplateStoreStats {
    return { ...this.#stats, evictions: this.#parsed.evictions, cached: this.#parsed.size };
  }

  /**
   * Stores a new version of `input.id`: 1 for a new id, else the latest + 1. Every part is parsed
   * first; nothing is stored when one is not valid Liquid.
   * @throws {TemplateInvalidError} when the input does not match the template schema.
   * @throws {TemplateParseError} naming the part and Liquid's message, line and column.
   * @throws {TemplateVersionConflictError} when racing creates of the id kept winning; retry.
   * @throws {StoreUnavailableError} when the database does not answer.
   */
  async create(tenant: string, input: TemplateInput): Promise<{ id: string; version: number }> {
    const parsed = templateInputSchema.safeParse(input);
    if (!parsed.success) throw new TemplateInvalidError(describeIssues(parsed.error));
    const { id, channel, ...sources } = parsed.data;
    this.#stats.parses++;
    const parts = this.#engine.compile(sources);
    for (let attempt = 1; attempt <= this.#maxVersionAttempts; attempt++) {
      const row = await this.#query(`create template ${id}`, () =>
        this.#pool.maybeOne(insertNextVersion(tenant, id, channel ?? null, sources)),
      );
      if (row === null) continue;
      const key = idKey(tenant, id);
      this.#parsed.set(versionKey(tenant, id, row.version), {
        id,
        version: row.version,
        channel: channel ?? null,
        parts,
      });
      this.#noteLatest(key, row.version);
      this.#known.set(key, true);
      return { id, version: row.version };
    }
    throw new TemplateVersionConflictError(id, this.#maxVersionAttempts);
  }

  /** One version of a template, or its latest without `version`; null when there is none. */
  async get(tenant: string, id: string, version?: number): Promise<TemplateVersion | null> {
    if (version !== undefined && !isVersionNumber(version)) return null;
    const row = await this.#query(`read template ${id}`, () =>
      this.#pool.maybeOne(selectTemplate(tenant, id, version ?? null)),
    );
    return row === null ? null : toTemplateVersion(row);
  }

  /** The tenant's templates by id, each with its latest version; `next` is the `after` of the next page. */
  async list(
    tenant: string,
    page: { readonly after?: string | undefined; readonly limit?: number | undefined } = {},
  ): Promise<{ templates: TemplateSummary[]; next: string | null }> {
    const limit = page.limit ?? DEFAULT_LIST_LIMIT;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT)
      throw new RangeError(`limit must be an integer from 1 to ${MAX_LIST_LIMIT}, got ${limit}`);
    const rows = await this.#query('list templates', () =>
      this.#pool.any(selectLatestTemplates(tenant, page.after ?? null, limit)),
    );
    const templates = rows.map((row) => ({
      id: row.template_id,
      latestVersion: row.version,
      channel: row.channel,
      createdAt: new Date(row.created_at).toISOString(),
    }));
    return { templates, next: rows.length === limit ? (templates.at(-1)?.id ?? null) : null };
  }

  /** Whether the tenant has a template `id` (any version). Yes answers are remembered. */
  async exists(tenant: string, id: string): Promise<boolean> {
    return !(await this.missing(tenant, [id])).has(id);
  }

  /** The ids among `ids` the tenant has no template for, in one query (none when all are known). */
  async missing(tenant: string, ids: readonly string[]): Promise<Set<string>> {
    const unknown = [...new Set(ids)].filter((id) => this.#known.get(idKey(tenant, id)) === undefined);
    if (unknown.length === 0) return new Set();
    const rows = await this.#query('check template ids', () => this.#pool.any(selectExistingIds(tenant, unknown)));
    const found = new Set(rows.map((row) => row.template_id));
    for (const id of found) this.#known.set(idKey(tenant, id), true);
    return new Set(unknown.filter((id) => !found.has(id)));
  }

  /**
   * Renders a message's template for its recipient: `reference.vars` as top-level names and the
   * recipient as `recipient`. Subject and text are rendered as they are; in the html part every
   * `{{ }}` output is HTML-escaped unless it ends with `| raw`.
   * @param options.channel the message's channel: refused when the template is for another channel
   *   or lacks the part the channel needs.
   * @throws {TemplateRenderError} a permanent failure (missing variable, no such template or version,
   *   wrong channel, Liquid error): the message is `failed` with the error's message.
   * @throws {StoreUnavailableError} when the database does not answer: transient, retry later.
   */
  async render(
    tenant: string,
    reference: TemplateReference,
    recipient: TemplateRecipient,
    options: { readonly channel?: Channel | undefined } = {},
  ): Promise<RenderedContent> {
    this.#stats.renders++;
    try {
      const { version } = reference;
      const template =
        version === undefined || isVersionNumber(version) ? await this.#load(tenant, reference.id, version) : null;
      if (template === null) {
        const which = reference.version === undefined ? '' : ` version ${reference.version}`;
        throw new TemplateRenderError(`template ${reference.id}${which} does not exist`, {
          reason: 'not-found',
          templateId: reference.id,
          version: reference.version,
        });
      }
      if (options.channel !== undefined) assertChannel(template, options.channel);
      return await this.#engine.render(template.parts, reference.vars, recipient, {
        templateId: template.id,
        version: template.version,
      });
    } catch (error) {
      if (error instanceof TemplateRenderError) this.#stats.renderFailures++;
      throw error;
    }
  }

  /** A parsed version from memory, or loaded, parsed and remembered; null when there is none. */
  async #load(tenant: string, id: string, version: number | undefined): Promise<CachedTemplate | null> {
    let wanted = version;
    if (wanted === undefined) {
      const latest = this.#latest.get(idKey(tenant, id));
      if (latest !== undefined && this.#clock.now() < latest.until) wanted = latest.version;
    }
    if (wanted !== undefined) {
      const cached = this.#parsed.get(versionKey(tenant, id, wanted));
      if (cached !== undefined) {
        this.#stats.cacheHits++;
        return cached;
      }
    }
    this.#stats.cacheMisses++;
    const loadKey = wanted === undefined ? `${idKey(tenant, id)}@latest` : versionKey(tenant, id, wanted);
    let loading = this.#loading.get(loadKey);
    if (loading === undefined) {
      loading = this.#fetch(tenant, id, wanted ?? null).finally(() => this.#loading.delete(loadKey));
      this.#loading.set(loadKey, loading);
    }
    return loading;
  }

  async #fetch(tenant: string, id: string, version: number | null): Promise<CachedTemplate | null> {
    const row = await this.#query(`read template ${id}`, () =>
      this.#pool.maybeOne(selectTemplate(tenant, id, version)),
    );
    if (row === null) return null;
    const key = idKey(tenant, id);
    if (version === null) this.#noteLatest(key, row.version);
    // Asking for the latest again after its time ran out usually finds the version already parsed.
    const cached = this.#parsed.get(versionKey(tenant, id, row.version));
    if (cached !== undefined) return cached;
    this.#stats.parses++;
    let parts: CompiledParts;
    try {
      parts = this.#engine.compile({
        subject: row.subject ?? undefined,
        text: row.text ?? undefined,
        html: row.html ?? undefined,
      });
    } catch (error) {
      // Stored templates were parsed at creation; this one no longer parses (a Liquid upgrade).
      if (!(error instanceof TemplateParseError)) throw error;
      throw new TemplateRenderError(`template ${id} v${row.version} no longer parses: ${error.message}`, {
        reason: 'render-failed',
        templateId: id,
        version: row.version,
        part: error.part,
        line: error.line,
        column: error.column,
        cause: error,
      });
    }
    const template: CachedTemplate = { id, version: row.version, channel: row.channel, parts };
    this.#parsed.set(versionKey(tenant, id, row.version), template);
    this.#known.set(key, true);
    return template;
  }

  /** Versions only grow: a read that started before a create here must not lower what is known. */
  #noteLatest(key: string, version: number): void {
    const known = this.#latest.get(key);
    if (known === undefined || known.version <= version) {
      this.#latest.set(key, { version, until: this.#clock.now() + this.#latestTtlMs });
    }
  }

  async #query<T>(action: string, run: () => Promise<T>): Promise<T> {
    this.#stats.queries++;
    try {
      return await run();
    } catch (error) {
      throw translateStoreError(error, action);
    }
  }
}

function assertChannel(template: CachedTemplate, channel: Channel): void {
  const subject = { templateId: template.id, version: template.version };
  if (template.channel !== null && template.channel !== channel) {
    throw new TemplateRenderError(
      `template ${template.id} v${template.version} is for channel ${template.channel}, not ${channel}`,
      { ...subject, reason: 'wrong-channel' },
    );
  }
  const missing = missingPartFor(channel, template.parts);
  if (missing !== undefined) {
    throw new TemplateRenderError(`template ${template.id} v${template.version} cannot be sent: ${missing}`, {
      ...subject,
      reason: 'wrong-channel',
    });
  }
}

function toTemplateVersion(row: TemplateRow): TemplateVersion {
  return {
    id: row.template_id,
    version: row.version,
    channel: row.channel,
    subject: row.subject,
    text: row.text,
    html: row.html,
    createdAt: new Date(row.created_at).toISOString(),
  };
}

/** Versions are PostgreSQL integers from 1: anything else cannot exist (and must not reach the query). */
function isVersionNumber(version: number): boolean {
  return Number.isSafeInteger(version) && version >= 1 && version <= 2_147_483_647;
}

// Length-prefixed, so no tenant or id can make two different pairs share a key.
function idKey(tenant: string, id: string): string {
  return `${tenant.length}:${tenant}${id.length}:${id}`;
}

function versionKey(tenant: string, id: string, version: number): string {
  return `${idKey(tenant, id)}#${version}`;
}
