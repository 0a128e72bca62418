-- Liquid templates per tenant. A template is a list of immutable versions: creating an existing id
-- adds version max + 1 (the primary key keeps two concurrent creates from taking one number).
-- A null channel means the template may be used on any channel.

CREATE TABLE templates (
  tenant      text        NOT NULL,
  template_id text        NOT NULL,
  version     integer     NOT NULL CHECK (version > 0),
  channel     text        CHECK (channel IN ('email', 'sms', 'push', 'webhook')),
  subject     text,
  text        text,
  html        text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant, template_id, version),
  CHECK (subject IS NOT NULL OR text IS NOT NULL OR html IS NOT NULL)
);
