// Applies the plain-SQL migrations in runtime/persistence/migrations in order, once each, recording
// every applied file in schema_migrations. Safe to run twice and from two processes at once.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { postgreSplitterOptions, splitQuery } from 'dbgate-query-splitter';
import { type DatabasePool, sql } from 'slonik';
import { z } from 'zod';

const MIGRATIONS_DIR = path.join(import.meta.dirname, 'migrations');
// Any constant works; it only has to be the same for every switchboard process on the database.
const MIGRATION_LOCK_KEY = 7_461_923_311;

export type MigrationFile = {
  readonly version: string;
  readonly name: string;
  readonly text: string;
  readonly checksum: string;
};

export type MigrationResult = { readonly applied: readonly string[]; readonly alreadyApplied: number };

/** A migration on disk differs from the one recorded as applied. */
export class MigrationChecksumError extends Error {
  constructor(version: string) {
    super(
      `migration ${version} was changed after it was applied; add a new migration instead of editing an applied one`,
    );
    this.name = 'MigrationChecksumError';
  }
}

/** Reads the migration files, ordered by their numeric prefix. */
export async function readMigrations(dir: string = MIGRATIONS_DIR): Promise<MigrationFile[]> {
  const files = (await readdir(dir)).filter((file) => /^\d{4}_[\w-]+\.sql$/.test(file)).sort();
  return Promise.all(
    files.map(async (file) => {
      const text = await readFile(path.join(dir, file), 'utf8');
      return {
        version: file.slice(0, 4),
        name: file.replace(/\.sql$/, ''),
        text,
        checksum: createHash('sha256').update(text).digest('hex'),
      };
    }),
  );
}

/**
 * Brings the schema up to date. Each migration runs in its own transaction with its record.
 * @example await migrate(pool) // { applied: ['0001_messages'], alreadyApplied: 0 }
 */
export async function migrate(pool: DatabasePool, migrations?: readonly MigrationFile[]): Promise<MigrationResult> {
  const files = migrations ?? (await readMigrations());
  return pool.connect(async (connection) => {
    await connection.query(sql.unsafe`
      CREATE TABLE IF NOT EXISTS schema_migrations (
        version    text PRIMARY KEY,
        name       text NOT NULL,
        checksum   text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
    await connection.query(sql.unsafe`SELECT pg_advisory_lock(${MIGRATION_LOCK_KEY})`);
    try {
      const rows = await connection.any(
        sql.type(
          z.object({ version: z.string(), checksum: z.string() }),
        )`SELECT version, checksum FROM schema_migrations`,
      );
      const recorded = new Map(rows.map((row) => [row.version, row.checksum]));
      const applied: string[] = [];
      for (const file of files) {
        const checksum = recorded.get(file.version);
        if (checksum !== undefined) {
          if (checksum !== file.checksum) throw new MigrationChecksumError(file.name);
          continue;
        }
        await connection.transaction(async (tx) => {
          for (const statement of splitStatements(file.text)) await tx.query(sqlFromStatement(statement));
          await tx.query(sql.unsafe`
            INSERT INTO schema_migrations (version, name, checksum) VALUES (${file.version}, ${file.name}, ${file.checksum})`);
        });
        applied.push(file.name);
      }
      return { applied, alreadyApplied: recorded.size };
    } finally {
      await connection.query(sql.unsafe`SELECT pg_advisory_unlock(${MIGRATION_LOCK_KEY})`);
    }
  });
}

/**
 * Splits a file into statements (the driver's extended protocol takes one statement per query),
 * aware of quotes, dollar-quoted bodies and comments; drops pieces that are only comments.
 */
export function splitStatements(text: string): string[] {
  return splitQuery(text, postgreSplitterOptions)
    .map((item) => (typeof item === 'string' ? item : item.text))
    .filter((statement) => statement.replace(/--[^\n]*/g, '').trim() !== '');
}

/**
 * A migration file is trusted SQL shipped with the code, not input: each statement becomes a query
 * with no interpolated values, passed through the sql tag as a single template part.
 */
function sqlFromStatement(text: string) {
  // Shaped exactly like the frozen strings array a tagged template literal receives.
  const parts = Object.freeze(Object.assign([text], { raw: Object.freeze([text]) })) as unknown as TemplateStringsArray;
  return sql.unsafe(parts);
}
