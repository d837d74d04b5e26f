-- 012: delivery receipts, tenant admins and the audit log. Must run on PostgreSQL 15 and on
-- PGlite (PostgreSQL 18).

-- Delivery receipts (docs/delivery.md): the highest seq a recipient's client acknowledged
-- having applied (`delivered` frame). Monotonic, never above the conversation's head. Read
-- implies delivered: the write path marks senders and viewers read without touching this
-- column, so every reader of it takes GREATEST(last_delivered_seq, last_read_seq).
-- A constant default: no table rewrite on PostgreSQL 11+.
ALTER TABLE inbox_entries ADD COLUMN last_delivered_seq bigint NOT NULL DEFAULT 0;

-- The per-message delivery log (docs/delivery.md) finds a message's webhook deliveries by its
-- seq. Only tenants with webhook endpoints have rows here, so only they pay for the index.
CREATE INDEX webhook_deliveries_by_seq ON webhook_deliveries (tenant_id, conversation_id, seq)
  WHERE seq IS NOT NULL;

-- Tenant admins: users of a tenant its backend names as administrators (PUT /v1/admins/{user}).
-- They receive the system notices about the tenant itself (a webhook endpoint disabled for
-- failing). Conversation roles are separate and per conversation.
CREATE TABLE tenant_admins (
  tenant_id text NOT NULL,
  user_id text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, user_id),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id) ON DELETE CASCADE
);

-- The audit log (docs/audit.md): administrative and mass actions, each written in the
-- transaction (or the statement) of the action itself. No foreign key to tenants: the record
-- outlives what it describes.
CREATE TABLE audit_log (
  id bigserial PRIMARY KEY,
  tenant_id text NOT NULL,
  at timestamptz NOT NULL DEFAULT now(),
  -- api_key (actor_id: the key's id), user (the user id), operator (HERALD_ADMIN_TOKEN over
  -- HTTP), cli (the herald command on the store), system (Herald itself).
  actor_type text NOT NULL CHECK (actor_type IN ('api_key', 'user', 'operator', 'cli', 'system')),
  actor_id text,
  action text NOT NULL,
  target_type text,
  target_id text,
  -- Mass actions: how many users it reached.
  recipients integer,
  details jsonb,
  trace_id text
);
CREATE INDEX audit_log_by_tenant ON audit_log (tenant_id, id);
CREATE INDEX audit_log_by_action ON audit_log (tenant_id, action, id);

-- Announcements are sent through the batched write path (herald_send): a trigger records
-- them in the sending transaction. The WHEN clause keeps every other message free of it.
CREATE FUNCTION herald_audit_announcement() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO audit_log (tenant_id, actor_type, actor_id, action, target_type, target_id, recipients, details)
  SELECT NEW.tenant_id, CASE WHEN NEW.sender_id IS NULL THEN 'system' ELSE 'user' END, NEW.sender_id,
         'announcement.sent', 'message', NEW.id,
         GREATEST(CASE WHEN c.audience = 'tenant'
                       THEN (SELECT count(*) FROM users u WHERE u.tenant_id = NEW.tenant_id)
                       ELSE c.member_count END
                  - CASE WHEN NEW.sender_id IS NULL THEN 0 ELSE 1 END, 0),
         jsonb_build_object('conversation_id', NEW.conversation_id, 'seq', NEW.seq, 'audience', c.audience)
    FROM conversations c
   WHERE c.tenant_id = NEW.tenant_id AND c.id = NEW.conversation_id;
  RETURN NULL;
END $$;
CREATE TRIGGER messages_audit AFTER INSERT ON messages
  FOR EACH ROW WHEN (NEW.kind = 'announcement') EXECUTE FUNCTION herald_audit_announcement();
