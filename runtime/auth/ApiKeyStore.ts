// API keys are stored only as SHA-256 hashes; a key resolves to the tenant it sends for.
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type DatabasePool, sql } from 'slonik';
import { z } from 'zod';
import { translateStoreError } from '../persistence/StoreError.ts';

export const DEFAULT_TENANT = 'default';
const GENERATED_KEY_FILE = 'api-key';

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** A new key: `sb_` and 32 random bytes in base64url. */
export function generateApiKey(): string {
  return `sb_${randomBytes(32).toString('base64url')}`;
}

export type BootstrapResult =
  | { readonly source: 'environment'; readonly count: number }
  | { readonly source: 'generated'; readonly key: string; readonly file: string }
  | { readonly source: 'data-directory'; readonly file: string };

export class ApiKeyStore {
  readonly #pool: DatabasePool;
  readonly #cache = new Map<string, { tenant: string | null; until: number }>();
  readonly #cacheMs: number;
  readonly #now: () => number;

  constructor(pool: DatabasePool, options: { cacheMs?: number; now?: () => number } = {}) {
    this.#pool = pool;
    this.#cacheMs = options.cacheMs ?? 30_000;
    this.#now = options.now ?? Date.now;
  }

  async add(key: string, tenant: string, label: string): Promise<void> {
    await this.#pool.query(sql.unsafe`
      INSERT INTO api_keys (key_hash, tenant, label) VALUES (${hashApiKey(key)}, ${tenant}, ${label})
      ON CONFLICT (key_hash) DO NOTHING`);
  }

  /**
   * Registers the keys from SWITCHBOARD_API_KEYS; with none, makes sure a generated key exists in the
   * data directory and reports it (`generated`) the one time it is created.
   */
  async bootstrap(keys: readonly string[], dataDir: string): Promise<BootstrapResult> {
    if (keys.length > 0) {
      for (const key of keys) await this.add(key, DEFAULT_TENANT, 'SWITCHBOARD_API_KEYS');
      return { source: 'environment', count: keys.length };
    }
    const file = path.join(dataDir, GENERATED_KEY_FILE);
    const existing = await readFile(file, 'utf8').then(
      (text) => text.trim(),
      () => '',
    );
    if (existing !== '') {
      await this.add(existing, DEFAULT_TENANT, 'generated');
      return { source: 'data-directory', file };
    }
    const key = generateApiKey();
    await mkdir(dataDir, { recursive: true });
    await writeFile(file, `${key}\n`, { mode: 0o600 });
    await chmod(file, 0o600);
    await this.add(key, DEFAULT_TENANT, 'generated');
    return { source: 'generated', key, file };
  }

  /** The tenant of an active key, or null. Answers are cached briefly; revocation takes effect within the cache time. */
  async tenantOf(key: string): Promise<string | null> {
    const hash = hashApiKey(key);
    const now = this.#now();
    const cached = this.#cache.get(hash);
    if (cached && cached.until > now) return cached.tenant;
    try {
      const tenant = await this.#pool.maybeOneFirst(sql.type(z.object({ tenant: z.string() }))`
        SELECT tenant FROM api_keys WHERE key_hash = ${hash} AND revoked_at IS NULL`);
      if (this.#cache.size > 10_000) this.#cache.clear();
      this.#cache.set(hash, { tenant, until: now + this.#cacheMs });
      return tenant;
    } catch (error) {
      throw translateStoreError(error, 'check an API key');
    }
  }
}
