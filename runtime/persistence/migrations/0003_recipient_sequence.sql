-- The recipient's own sequence number of each message it has taken (set on accepted → queued): a
-- recipient's state is its latest snapshot plus its messages after the snapshot's sequence.

ALTER TABLE messages ADD COLUMN recipient_seq bigint;

CREATE UNIQUE INDEX messages_recipient_seq ON messages (tenant, recipient_id, recipient_seq) WHERE recipient_seq IS NOT NULL;

-- The backlog: accepted or queued messages nobody is working on (found by age).
CREATE INDEX messages_backlog ON messages (updated_at) WHERE state IN ('accepted', 'queued');
