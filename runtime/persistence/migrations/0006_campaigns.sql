-- Campaigns: the definition (written once at creation), the control status set by operators, and the
-- campaign actor's progress snapshot (audience cursor and reading counts), saved every N recipients,
-- on pause and at the end. Delivery counts are not kept here: they are read from the campaign's
-- messages, which are the truth.
CREATE TABLE campaigns (
  tenant          text        NOT NULL,
  id              text        NOT NULL,
  name            text        NOT NULL,
  channel         text        NOT NULL CHECK (channel IN ('email', 'sms', 'push', 'webhook')),
  -- content or template, priority, metadata, audience source, rate, startAt: the creation request.
  definition      jsonb       NOT NULL,
  status          text        NOT NULL CHECK (status IN ('draft', 'scheduled', 'running', 'paused', 'completed', 'cancelled', 'failed')),
  -- Audience cursor: the byte offset just past the last recipient handed to acceptance, its line number,
  -- and (CSV) the header the rest of the object is read with.
  cursor_offset   bigint      NOT NULL DEFAULT 0,
  cursor_line     bigint      NOT NULL DEFAULT 0,
  csv_columns     jsonb,
  audience_bytes  bigint,
  targeted        bigint      NOT NULL DEFAULT 0,
  malformed       bigint      NOT NULL DEFAULT 0,
  -- The first malformed lines, each { line, reason }.
  malformed_lines jsonb       NOT NULL DEFAULT '[]'::jsonb,
  error           text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  started_at      timestamptz,
  finished_at     timestamptz,
  PRIMARY KEY (tenant, id)
);

CREATE INDEX campaigns_active ON campaigns (status) WHERE status IN ('scheduled', 'running');

-- A campaign's counts by state come from its messages. The index holds no state column, so state
-- transitions stay heap-only updates.
CREATE INDEX messages_campaign ON messages (campaign_id) WHERE campaign_id IS NOT NULL;
