// Opens the store: PostgreSQL at DATABASE_URL, or PGlite in the data directory served over a loopback
// socket so that the very same slonik code path runs against both.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { createPool, type DatabasePool, sql } from 'slonik';
import { z } from 'zod';
import { StoreUnavailableError } from './StoreError.ts';

// slonik resets every connection it takes back with `DISCARD ALL`, one round trip per transaction.
// switchboard never changes session state (no SET, temporary tables or named statements), so there
// is nothing to reset.
const KEEP_SESSION = (): Promise<void> => Promise.resolve();

export type DatabaseMode = 'postgresql' | 'embedded';

export type Database = {
  readonly pool: DatabasePool;
  readonly mode: DatabaseMode;
  /** Connection string of the embedded server when `mode` is `embedded`. */
  readonly url: string;
  /** True when a trivial query answers; used by `/readyz`. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
};

export type OpenDatabaseOptions = {
  readonly databaseUrl: string | undefined;
  readonly dataDir: string;
  readonly maximumPoolSize?: number;
  readonly connectionTimeoutMs?: number;
};

/**
 * Opens the store and proves it answers.
 * @throws {StoreUnavailableError} with a message that names the host and what to do next.
 */
export async function openDatabase(options: OpenDatabaseOptions): Promise<Database> {
  if (options.databaseUrl) {
    const where = describeUrl(options.databaseUrl);
    const pool = await createPool(options.databaseUrl, {
      maximumPoolSize: options.maximumPoolSize ?? 10,
      connectionTimeout: options.connectionTimeoutMs ?? 5_000,
      connectionRetryLimit: 1,
      statementTimeout: 30_000,
      resetConnection: KEEP_SESSION,
    }).catch((error: unknown) => {
      throw unreachable(where, error);
    });
    await assertReachable(pool, where);
    return wrap(pool, 'postgresql', options.databaseUrl, async () => {});
  }
  const dataPath = path.join(options.dataDir, 'pgdata');
  await mkdir(dataPath, { recursive: true });
  const db = await PGlite.create(dataPath);
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 1 });
  await server.start();
  const url = `postgres://postgres@${server.getServerConn()}/postgres?sslmode=disable`;
  // The socket serves one connection at a time, so the pool must never open a second one.
  const pool = await createPool(url, {
    maximumPoolSize: 1,
    resetConnection: KEEP_SESSION,
    connectionTimeout: 30_000,
    statementTimeout: 'DISABLE_TIMEOUT',
  });
  await assertReachable(pool, `embedded PGlite at ${dataPath}`);
  return wrap(pool, 'embedded', url, async () => {
    await server.stop();
    await db.close();
  });
}

function wrap(pool: DatabasePool, mode: DatabaseMode, url: string, closeServer: () => Promise<void>): Database {
  let closed: Promise<void> | undefined;
  return {
    pool,
    mode,
    url,
    async ping() {
      try {
        await pool.oneFirst(sql.type(z.object({ ok: z.number() }))`SELECT 1 AS ok`);
        return true;
      } catch {
        return false;
      }
    },
    close() {
      closed ??= (async () => {
        await pool.end();
        await closeServer();
      })();
      return closed;
    },
  };
}

async function assertReachable(pool: DatabasePool, where: string): Promise<void> {
  try {
    await pool.oneFirst(sql.type(z.object({ ok: z.number() }))`SELECT 1 AS ok`);
  } catch (error) {
    await pool.end().catch(() => {});
    throw unreachable(where, error);
  }
}

function unreachable(where: string, error: unknown): StoreUnavailableError {
  const reason = error instanceof Error ? rootMessage(error) : String(error);
  return new StoreUnavailableError(
    `cannot reach the database at ${where} (${reason}); check DATABASE_URL and that PostgreSQL is running, or unset DATABASE_URL to use the embedded store`,
    { cause: error },
  );
}

function rootMessage(error: Error): string {
  let e: unknown = error;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  return e instanceof Error ? e.message : String(e);
}

/** host:port/database without credentials, for messages. */
function describeUrl(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port || '5432'}${u.pathname}`;
}
