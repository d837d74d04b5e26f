-- 007: webhooks (docs/webhooks.md). Must run on PostgreSQL 15 and on PGlite (PostgreSQL 18).
--
-- The log source is the committed data itself: triggers on `events`, `notices` and
-- `inbox_entries` write one delivery row per matching endpoint in the writing transaction,
-- and only for tenants that have an enabled endpoint (the trigger's first statement is that
-- check; a tenant without endpoints gets no row and no further work). A delivery is
-- therefore committed exactly when its event is, or not at all.
--
-- Order: deliveries of one endpoint are grouped into streams (`c:{conversation}` for
-- conversation events, `r:{conversation}:{user}` for a reader's marker, `n:{notice}`), and a
-- stream is delivered in `id` order. The id is taken inside the trigger, while the writer
-- holds the lock that serializes that stream (the conversation row for anything with a
-- seq, the inbox entry row for a read marker), so within a stream id order is commit order
-- is seq order: a transaction that commits late cannot hold a smaller id than one already
-- visible in the same stream. The dispatcher never keeps an id cursor that could skip it —
-- a stream's state is its oldest pending row.

CREATE TABLE webhook_endpoints (
  tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  id text NOT NULL,
  url text NOT NULL,
  -- whsec_<base64>: Standard Webhooks signing secret (returned on create and rotate only).
  secret text NOT NULL,
  events text[] NOT NULL,
  conversation_id text,
  enabled boolean NOT NULL DEFAULT true,
  disabled_reason text,
  disabled_at timestamptz,
  -- First failed attempt since the last success (NULL: the last attempt succeeded).
  failing_since timestamptz,
  last_success_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX webhook_endpoints_enabled ON webhook_endpoints (tenant_id) WHERE enabled;

CREATE TABLE webhook_deliveries (
  id bigserial PRIMARY KEY,
  tenant_id text NOT NULL,
  endpoint_id text NOT NULL,
  -- The `webhook-id` header: one per event, the same on every retry and replay.
  event_id text NOT NULL,
  event_type text NOT NULL,
  stream text NOT NULL,
  -- What the payload is built from at send time (so an erased body is never sent).
  conversation_id text,
  seq bigint,
  notice_id text,
  data jsonb,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  -- The retry window runs from here (creation, or a manual retry).
  window_started_at timestamptz NOT NULL DEFAULT now(),
  -- A dispatcher's claim on an attempt in flight; an expired lease is claimable again.
  lease_owner text,
  lease_until timestamptz,
  last_attempt_at timestamptz,
  last_status_code integer,
  last_error text,
  last_latency_ms integer,
  delivered_at timestamptz,
  -- Replays are copies of earlier deliveries, in streams of their own.
  replay_of bigint,
  created_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (tenant_id, endpoint_id, stream, id)
  WHERE status = 'pending';
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (tenant_id, endpoint_id, id);
-- Pruning finished deliveries after the retention.
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (created_at) WHERE status <> 'pending';

-- Inserts one delivery per enabled endpoint of `tenant` that subscribes to `etype` (and to
-- `conv`, when the endpoint filters by conversation).
CREATE FUNCTION herald_webhook_enqueue(tenant text, etype text, stream text, conv text, seqno bigint,
                                       notice text, payload jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  evid text := 'evt_' || replace(gen_random_uuid()::text, '-', '');
BEGIN
  INSERT INTO webhook_deliveries (tenant_id, endpoint_id, event_id, event_type, stream, conversation_id,
                                  seq, notice_id, data)
  SELECT tenant, e.id, evid, etype, stream, conv, seqno, notice, payload
    FROM webhook_endpoints e
   WHERE e.tenant_id = tenant AND e.enabled AND etype = ANY(e.events)
     AND (e.conversation_id IS NULL OR e.conversation_id = conv);
END $$;

CREATE FUNCTION herald_webhook_on_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  etype text := NEW.type;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM webhook_endpoints WHERE tenant_id = NEW.tenant_id AND enabled) THEN
    RETURN NULL;
  END IF;
  IF NEW.type = 'message.created' AND NEW.payload->'message'->>'kind' = 'system' THEN
    etype := CASE NEW.payload->'message'->'data'->>'event'
      WHEN 'created' THEN 'conversation.created'
      WHEN 'joined' THEN 'member.joined'
      WHEN 'left' THEN 'member.left'
      WHEN 'renamed' THEN 'conversation.renamed'
      ELSE 'message.created' END;
  END IF;
  PERFORM herald_webhook_enqueue(NEW.tenant_id, etype, 'c:' || NEW.conversation_id, NEW.conversation_id,
                                 NEW.seq, NULL, NULL);
  RETURN NULL;
END $$;
CREATE TRIGGER events_webhooks AFTER INSERT ON events
  FOR EACH ROW EXECUTE FUNCTION herald_webhook_on_event();

CREATE FUNCTION herald_webhook_on_notice() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM webhook_endpoints WHERE tenant_id = NEW.tenant_id AND enabled) THEN
    RETURN NULL;
  END IF;
  PERFORM herald_webhook_enqueue(NEW.tenant_id, 'notice.sent', 'n:' || NEW.id, NULL, NULL, NEW.id, NULL);
  RETURN NULL;
END $$;
CREATE TRIGGER notices_webhooks AFTER INSERT ON notices
  FOR EACH ROW EXECUTE FUNCTION herald_webhook_on_notice();

-- A reader's marker moving forward. The WHEN clause is evaluated without calling the
-- function, so the fan-out's unchanged rows cost nothing; a sender's own marker moving to
-- their new message is not a read and is skipped.
CREATE FUNCTION herald_webhook_on_read() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM webhook_endpoints WHERE tenant_id = NEW.tenant_id AND enabled) THEN
    RETURN NULL;
  END IF;
  IF EXISTS (SELECT 1 FROM messages m WHERE m.tenant_id = NEW.tenant_id AND m.conversation_id = NEW.conversation_id
                AND m.seq = NEW.last_read_seq AND m.sender_id = NEW.user_id) THEN
    RETURN NULL;
  END IF;
  PERFORM herald_webhook_enqueue(NEW.tenant_id, 'conversation.read',
                                 'r:' || NEW.conversation_id || ':' || NEW.user_id, NEW.conversation_id, NULL,
                                 NULL, jsonb_build_object('conversation_id', NEW.conversation_id,
                                                          'user_id', NEW.user_id, 'seq', NEW.last_read_seq));
  RETURN NULL;
END $$;
CREATE TRIGGER inbox_entries_webhooks AFTER UPDATE OF last_read_seq ON inbox_entries
  FOR EACH ROW WHEN (NEW.last_read_seq > OLD.last_read_seq) EXECUTE FUNCTION herald_webhook_on_read();

-- Wake the dispatchers after commit (NOTIFY is delivered at commit, never before).
CREATE FUNCTION herald_webhook_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('herald_webhooks', '');
  RETURN NULL;
END $$;
CREATE TRIGGER webhook_deliveries_notify AFTER INSERT OR UPDATE OF next_attempt_at ON webhook_deliveries
  FOR EACH STATEMENT EXECUTE FUNCTION herald_webhook_notify();
