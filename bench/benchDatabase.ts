// A PostgreSQL database of a benchmark's own for one run: created on the local server, migrated, and
// dropped at the end whatever happens, with a scratch directory beside it.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createPool, type DatabasePool, sql } from 'slonik';
import { migrate } from '../runtime/persistence/migrate.ts';

export const BENCH_ADMIN_URL =
  process.env.SWITCHBOARD_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export type BenchDatabase = {
  readonly name: string;
  readonly url: string;
  readonly pool: DatabasePool;
  /** A scratch directory for the run (data directories, generated files), removed at the end. */
  readonly root: string;
};

export async function withBenchDatabase<T>(prefix: string, run: (db: BenchDatabase) => Promise<T>): Promise<T> {
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  const admin = await createPool(BENCH_ADMIN_URL, { maximumPoolSize: 1 });
  await admin.query(sql.unsafe`CREATE DATABASE ${sql.identifier([name])}`);
  const url = new URL(BENCH_ADMIN_URL);
  url.pathname = `/${name}`;
  const root = await mkdtemp(path.join(tmpdir(), `sb-${prefix}-`));
  let pool: DatabasePool | undefined;
  try {
    pool = await createPool(url.toString(), { maximumPoolSize: 4 });
    await migrate(pool);
    return await run({ name, url: url.toString(), pool, root });
  } finally {
    await pool?.end();
    await admin.query(sql.unsafe`DROP DATABASE ${sql.identifier([name])} WITH (FORCE)`);
    await admin.end();
    await rm(root, { recursive: true, force: true });
  }
}
