// The statements of the snapshot store, kept apart from its batching logic: latest-per-key select,
// multi-row upsert, and the retention delete.
import { sql } from 'slonik';
import { z } from 'zod';

// slonik returns int8 as bigint and timestamptz as epoch milliseconds, and applies no zod transforms.
export const snapshotRow = z.object({
  persistence_key: z.string(),
  sequence: z.bigint(),
  schema_version: z.number(),
  state: z.unknown(),
  taken_at: z.number(),
});

export type SnapshotRow = z.output<typeof snapshotRow>;

/** The newest row of each key: one backward probe of the primary key per key, however many rows a key keeps. */
export function selectLatestSnapshots(keys: readonly string[]) {
  return sql.type(snapshotRow)`
    SELECT s.persistence_key, s.sequence, s.schema_version, s.state, s.taken_at
      FROM unnest(${sql.array(keys, 'text')}) AS k(persistence_key)
      CROSS JOIN LATERAL (
        SELECT a.persistence_key, a.sequence, a.schema_version, a.state, a.taken_at
          FROM actor_snapshots a
         WHERE a.persistence_key = k.persistence_key
         ORDER BY a.sequence DESC
         LIMIT 1
      ) s`;
}

/**
 * Writes many snapshots in one statement. The rows must have distinct (key, sequence): ON CONFLICT
 * DO UPDATE cannot touch one row twice in a statement.
 */
export function upsertSnapshots(
  rows: ReadonlyArray<readonly [key: string, sequence: number, json: string]>,
  schemaVersion: number,
) {
  return sql.unsafe`
    INSERT INTO actor_snapshots (persistence_key, sequence, schema_version, state)
    SELECT t.persistence_key, t.sequence, ${schemaVersion}::int, t.state
      FROM ${sql.unnest(rows, ['text', 'int8', 'jsonb'])} AS t(persistence_key, sequence, state)
    ON CONFLICT (persistence_key, sequence) DO UPDATE
      SET schema_version = EXCLUDED.schema_version, state = EXCLUDED.state, taken_at = now()`;
}

/** Deletes rows ranked past `keepLatest` by sequence within each key; every key when `keys` is null. */
export function pruneSnapshots(keepLatest: number, keys: readonly string[] | null) {
  const scope = keys === null ? sql.fragment`TRUE` : sql.fragment`persistence_key = ANY(${sql.array(keys, 'text')})`;
  return sql.unsafe`
    DELETE FROM actor_snapshots s
     USING (
       SELECT persistence_key, sequence,
              row_number() OVER (PARTITION BY persistence_key ORDER BY sequence DESC) AS rank
         FROM actor_snapshots
        WHERE ${scope}
     ) ranked
     WHERE s.persistence_key = ranked.persistence_key
       AND s.sequence = ranked.sequence
       AND ranked.rank > ${keepLatest}`;
}
