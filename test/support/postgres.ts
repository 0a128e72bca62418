// A fresh PostgreSQL database per test file on the local server, dropped afterwards.
import { randomBytes } from 'node:crypto';
import { createPool, sql } from 'slonik';

export const POSTGRES_ADMIN_URL =
  process.env.SWITCHBOARD_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export type TestDatabase = { readonly url: string; readonly name: string; drop(): Promise<void> };

export async function createTestDatabase(prefix = 'sbtest'): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = await createPool(POSTGRES_ADMIN_URL, { maximumPoolSize: 1 });
  try {
    await admin.query(sql.unsafe`CREATE DATABASE ${sql.identifier([name])}`);
  } finally {
    await admin.end();
  }
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    async drop() {
      const pool = await createPool(POSTGRES_ADMIN_URL, { maximumPoolSize: 1 });
      try {
        await pool.query(sql.unsafe`DROP DATABASE IF EXISTS ${sql.identifier([name])} WITH (FORCE)`);
      } finally {
        await pool.end();
      }
    },
  };
}
