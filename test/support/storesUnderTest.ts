// The two stores every persistence suite runs against: PostgreSQL (a fresh database) and the embedded
// PGlite default (a fresh data directory). Use with describe.each(STORES_UNDER_TEST).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Database, openDatabase } from '../../runtime/persistence/openDatabase.ts';
import { createTestDatabase } from './postgres.ts';

export type StoreUnderTest = { readonly database: Database; cleanup(): Promise<void> };

export const STORES_UNDER_TEST: Array<[string, () => Promise<StoreUnderTest>]> = [
  [
    'postgresql',
    async () => {
      const testDb = await createTestDatabase();
      const database = await openDatabase({ databaseUrl: testDb.url, dataDir: '/nonexistent' });
      return {
        database,
        async cleanup() {
          await database.close();
          await testDb.drop();
        },
      };
    },
  ],
  [
    'embedded PGlite',
    async () => {
      const dataDir = await mkdtemp(path.join(tmpdir(), 'sb-pglite-'));
      const database = await openDatabase({ databaseUrl: undefined, dataDir });
      return {
        database,
        async cleanup() {
          await database.close();
          await rm(dataDir, { recursive: true, force: true });
        },
      };
    },
  ],
];
