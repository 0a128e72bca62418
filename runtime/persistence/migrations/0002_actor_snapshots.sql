-- Snapshots of actor state, written behind in batches and loaded in batches (SnapshotStore).

CREATE TABLE actor_snapshots (
  persistence_key text        NOT NULL,
  sequence        bigint      NOT NULL,
  schema_version  integer     NOT NULL,
  state           jsonb       NOT NULL,
  taken_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (persistence_key, sequence)
);

-- No further index: the latest-per-key lookup (one backward probe of the primary key per key,
-- `ORDER BY sequence DESC LIMIT 1`) and the retention delete (rows of a key by sequence) are both
-- served by the primary key's btree on (persistence_key, sequence), which PostgreSQL scans in
-- either direction. A second index on (persistence_key, sequence DESC) would only slow the writes.
