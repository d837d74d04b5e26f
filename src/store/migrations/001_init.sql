-- Herald schema. Must run on PostgreSQL 15 and on PGlite (PostgreSQL 18).
-- Every table is keyed by tenant first: tenant isolation is part of every key.

CREATE TABLE tenants (
  id text PRIMARY KEY,
  name text NOT NULL,
  allowed_origins text[] NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  key_hash text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);

CREATE TABLE users (
  tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  id text NOT NULL,
  display_name text,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);

CREATE TABLE conversations (
  tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  id text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('direct', 'group', 'channel', 'announcement', 'notices')),
  title text,
  -- 'a|b' with a < b for direct conversations: one per pair.
  direct_key text,
  created_by text,
  -- announcements: 'tenant' reaches every user of the tenant, 'members' only members.
  audience text NOT NULL DEFAULT 'members' CHECK (audience IN ('members', 'tenant')),
  last_seq integer NOT NULL DEFAULT 0,
  member_count integer NOT NULL DEFAULT 0,
  last_message jsonb,
  last_message_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, direct_key)
);

CREATE TABLE members (
  tenant_id text NOT NULL,
  conversation_id text NOT NULL,
  user_id text NOT NULL,
  role text NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'moderator', 'admin')),
  joined_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, conversation_id, user_id),
  FOREIGN KEY (tenant_id, conversation_id) REFERENCES conversations(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX members_by_user ON members (tenant_id, user_id);

-- Current state of each message; `seq` is the seq of its creation event.
CREATE TABLE messages (
  tenant_id text NOT NULL,
  id text NOT NULL,
  conversation_id text NOT NULL,
  seq integer NOT NULL,
  kind text NOT NULL,
  sender_id text, -- NULL: the system
  body text NOT NULL,
  reply_to text,
  mentions text[] NOT NULL DEFAULT '{}',
  attachments jsonb NOT NULL DEFAULT '[]',
  data jsonb,
  client_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  edited_at timestamptz,
  deleted_at timestamptz,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, conversation_id, seq),
  FOREIGN KEY (tenant_id, conversation_id) REFERENCES conversations(tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX messages_idempotency ON messages (tenant_id, sender_id, client_id)
  WHERE client_id IS NOT NULL AND sender_id IS NOT NULL;

-- The conversation log: every change (create, edit, delete) with its own seq.
CREATE TABLE events (
  tenant_id text NOT NULL,
  conversation_id text NOT NULL,
  seq integer NOT NULL,
  type text NOT NULL,
  message_id text NOT NULL,
  payload jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, conversation_id, seq),
  FOREIGN KEY (tenant_id, conversation_id) REFERENCES conversations(tenant_id, id) ON DELETE CASCADE
);

CREATE SEQUENCE inbox_version;

CREATE TABLE inbox_entries (
  tenant_id text NOT NULL,
  user_id text NOT NULL,
  conversation_id text NOT NULL,
  last_read_seq integer NOT NULL DEFAULT 0,
  unread_count integer NOT NULL DEFAULT 0,
  mention_count integer NOT NULL DEFAULT 0,
  archived boolean NOT NULL DEFAULT false,
  muted boolean NOT NULL DEFAULT false,
  pinned boolean NOT NULL DEFAULT false,
  last_activity_at timestamptz NOT NULL DEFAULT now(),
  version bigint NOT NULL DEFAULT nextval('inbox_version'),
  PRIMARY KEY (tenant_id, user_id, conversation_id),
  FOREIGN KEY (tenant_id, conversation_id) REFERENCES conversations(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX inbox_by_version ON inbox_entries (tenant_id, user_id, version);

CREATE TABLE notices (
  tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  id text NOT NULL,
  title text NOT NULL,
  body text NOT NULL,
  data jsonb,
  audience text NOT NULL, -- 'users' | 'tenant'
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);

CREATE TABLE notice_entries (
  tenant_id text NOT NULL,
  user_id text NOT NULL,
  notice_id text NOT NULL,
  read boolean NOT NULL DEFAULT false,
  archived boolean NOT NULL DEFAULT false,
  dismissed boolean NOT NULL DEFAULT false,
  escalated boolean NOT NULL DEFAULT false,
  version bigint NOT NULL DEFAULT nextval('inbox_version'),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, user_id, notice_id),
  FOREIGN KEY (tenant_id, notice_id) REFERENCES notices(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX notice_entries_by_version ON notice_entries (tenant_id, user_id, version);

-- Transactional outbox. `partition` lets several relays share the work
-- without reordering a topic: a relay owns a partition through an advisory lock.
CREATE TABLE outbox (
  id bigserial PRIMARY KEY,
  tenant_id text NOT NULL,
  topic text NOT NULL,
  -- 16 partitions by topic: one topic always lands in one partition.
  partition smallint GENERATED ALWAYS AS ((hashtext(topic) & 15)) STORED,
  payload jsonb NOT NULL,
  trace_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz
);
CREATE INDEX outbox_pending ON outbox (partition, id) WHERE published_at IS NULL;

CREATE TABLE refresh_tokens (
  id text PRIMARY KEY,
  family_id text NOT NULL,
  tenant_id text NOT NULL,
  user_id text NOT NULL,
  active_tenant text NOT NULL,
  token_hash text NOT NULL UNIQUE,
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  revoked_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_by_family ON refresh_tokens (family_id);

-- Notify the relay after commit (NOTIFY is delivered at commit, never before).
CREATE FUNCTION herald_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('herald_outbox', '');
  RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
  FOR EACH STATEMENT EXECUTE FUNCTION herald_outbox_notify();
