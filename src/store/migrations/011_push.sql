-- 011: offline push (docs/push.md). Must run on PostgreSQL 15 and on PGlite (PostgreSQL 18).
--
-- Three steps, each a committed row, so a crash between them loses nothing:
-- 1. A trigger on `events` writes one `push_pending` row per new message, in the sending
--    transaction, and only for tenants with at least one registered device: O(1) per message,
--    never a row per recipient on the write path.
-- 2. After the delay the dispatcher decides, per recipient device, push or skip (muted,
--    online) and writes `push_deliveries` rows in the transaction that deletes the pending
--    row. `push_state` remembers per (user, conversation) the highest seq already decided,
--    so a burst of messages becomes one push per conversation.
-- 3. Pending deliveries are sent (leased like webhook deliveries), retried with backoff, and
--    their outcome stays in the row: the per-device delivery log.

CREATE TABLE push_devices (
  tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  id text NOT NULL,
  user_id text NOT NULL,
  platform text NOT NULL CHECK (platform IN ('webpush', 'fcm', 'apns')),
  -- FCM registration token, APNs device token, or the Web Push subscription endpoint.
  token text NOT NULL,
  -- Web Push only: {p256dh, auth} of the subscription.
  keys jsonb,
  locale text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  last_sent_at timestamptz,
  -- Set when the provider said the token is dead (its log stays readable until pruned).
  removed_at timestamptz,
  removed_reason text,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, platform, token)
);
CREATE INDEX push_devices_by_user ON push_devices (tenant_id, user_id) WHERE removed_at IS NULL;

CREATE TABLE push_pending (
  id bigserial PRIMARY KEY,
  tenant_id text NOT NULL,
  conversation_id text NOT NULL,
  seq bigint NOT NULL,
  sender_id text,
  mentions text[] NOT NULL DEFAULT '{}',
  -- The mentioned were decided early (HERALD_PUSH_MENTION_DELAY_MS); the rest wait for the delay.
  mentions_done boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  lease_owner text,
  lease_until timestamptz,
  FOREIGN KEY (tenant_id, conversation_id) REFERENCES conversations(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX push_pending_by_age ON push_pending (created_at);

CREATE TABLE push_state (
  tenant_id text NOT NULL,
  user_id text NOT NULL,
  conversation_id text NOT NULL,
  decided_seq bigint NOT NULL,
  PRIMARY KEY (tenant_id, user_id, conversation_id),
  FOREIGN KEY (tenant_id, conversation_id) REFERENCES conversations(tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE push_deliveries (
  id bigserial PRIMARY KEY,
  tenant_id text NOT NULL,
  device_id text NOT NULL,
  user_id text NOT NULL,
  -- Stable across retries: APNs apns-id, and `push_id` in every payload (receiver-side dedup).
  push_id uuid NOT NULL DEFAULT gen_random_uuid(),
  kind text NOT NULL CHECK (kind IN ('message', 'test')),
  status text NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'invalid_token', 'skipped')),
  -- skipped: muted | online | read | device_removed; failed / invalid_token: the provider's reason.
  reason text,
  conversation_id text,
  -- The push covers seqs first_seq..last_seq of the conversation (a skip: one seq).
  first_seq bigint,
  last_seq bigint,
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  lease_owner text,
  lease_until timestamptz,
  provider_status integer,
  provider_response text,
  latency_ms integer,
  created_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  FOREIGN KEY (tenant_id, device_id) REFERENCES push_devices(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX push_deliveries_pending ON push_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX push_deliveries_log ON push_deliveries (tenant_id, device_id, id);
CREATE INDEX push_deliveries_by_message ON push_deliveries (tenant_id, conversation_id, last_seq);
CREATE INDEX push_deliveries_finished ON push_deliveries (created_at) WHERE status <> 'pending';

-- One pending row per user message (system events never push), only when the tenant has a
-- device at all: a tenant without push pays one index probe per message.
CREATE FUNCTION herald_push_on_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM push_devices WHERE tenant_id = NEW.tenant_id AND removed_at IS NULL) THEN
    RETURN NULL;
  END IF;
  INSERT INTO push_pending (tenant_id, conversation_id, seq, sender_id, mentions)
  VALUES (NEW.tenant_id, NEW.conversation_id, NEW.seq, NEW.payload->'message'->'sender'->>'user_id',
          ARRAY(SELECT jsonb_array_elements_text(COALESCE(NEW.payload->'message'->'mentions', '[]'))));
  RETURN NULL;
END $$;
CREATE TRIGGER events_push AFTER INSERT ON events
  FOR EACH ROW WHEN (NEW.type = 'message.created' AND (NEW.payload->'message'->>'kind') IS DISTINCT FROM 'system')
  EXECUTE FUNCTION herald_push_on_event();

-- Wake the dispatchers after commit (mentions may be due at once; deliveries are due at once).
CREATE FUNCTION herald_push_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('herald_push', '');
  RETURN NULL;
END $$;
CREATE TRIGGER push_pending_notify AFTER INSERT ON push_pending
  FOR EACH STATEMENT EXECUTE FUNCTION herald_push_notify();
CREATE TRIGGER push_deliveries_notify AFTER INSERT OR UPDATE OF next_attempt_at ON push_deliveries
  FOR EACH STATEMENT EXECUTE FUNCTION herald_push_notify();
