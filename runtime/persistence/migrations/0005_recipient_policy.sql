-- Per-recipient policy (ARCHITECTURE §3 step 3): suppression lists, what the recipient's counters are
-- rebuilt from (when each message was taken, its content hash), and durable sendAt timers.

-- A recipient suppressed on one channel, or on every channel (channel null). NULLS NOT DISTINCT makes
-- the all-channel entry unique too (PostgreSQL 15+).
CREATE TABLE suppressions (
  tenant       text        NOT NULL,
  recipient_id text        NOT NULL,
  channel      text        CHECK (channel IN ('email', 'sms', 'push', 'webhook')),
  reason       text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT suppressions_key UNIQUE NULLS NOT DISTINCT (tenant, recipient_id, channel)
);

-- sha256 of channel, address and content (or template id and variables), set at acceptance; and the
-- time (the recipient actor's clock) at which the recipient took the message, set with recipient_seq.
ALTER TABLE messages ADD COLUMN content_hash text;
ALTER TABLE messages ADD COLUMN taken_at timestamptz;

-- The scheduler reads accepted messages in (send_at, id) order with a cursor of that pair, and keeps
-- send_at to whole milliseconds (what the driver reads back): earlier rows are brought in line.
UPDATE messages SET send_at = date_trunc('milliseconds', send_at)
 WHERE state = 'accepted' AND send_at IS NOT NULL AND send_at <> date_trunc('milliseconds', send_at);
CREATE INDEX messages_scheduled ON messages (send_at, id) WHERE state = 'accepted' AND send_at IS NOT NULL;
