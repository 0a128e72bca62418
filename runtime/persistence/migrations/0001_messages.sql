-- Messages, their transitions, the outbox of delivery events, and API keys.

CREATE TABLE messages (
  id              uuid PRIMARY KEY,
  tenant          text        NOT NULL,
  idempotency_key text,
  channel         text        NOT NULL CHECK (channel IN ('email', 'sms', 'push', 'webhook')),
  priority        text        NOT NULL CHECK (priority IN ('transactional', 'marketing')),
  recipient_id    text        NOT NULL,
  recipient       jsonb       NOT NULL,
  content         jsonb,
  template        jsonb,
  metadata        jsonb,
  campaign_id     text,
  send_at         timestamptz,
  state           text        NOT NULL CHECK (state IN ('accepted', 'queued', 'sending', 'sent', 'delivered', 'suppressed', 'failed', 'dead')),
  attempts        integer     NOT NULL DEFAULT 0,
  provider        text,
  last_error      text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX messages_tenant_idempotency_key ON messages (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX messages_pending ON messages (channel, created_at) WHERE state IN ('accepted', 'queued', 'sending');
CREATE INDEX messages_recipient ON messages (tenant, recipient_id, created_at);

CREATE TABLE message_events (
  id         bigserial   PRIMARY KEY,
  message_id uuid        NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
  state      text        NOT NULL,
  at         timestamptz NOT NULL DEFAULT now(),
  attempt    integer     NOT NULL DEFAULT 0,
  provider   text,
  detail     text
);

CREATE INDEX message_events_message ON message_events (message_id, id);

CREATE TABLE outbox (
  id           bigserial   PRIMARY KEY,
  message_id   uuid        NOT NULL,
  recipient_id text        NOT NULL,
  event        jsonb       NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz
);

CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

CREATE TABLE api_keys (
  key_hash   text        PRIMARY KEY,
  tenant     text        NOT NULL,
  label      text        NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);
