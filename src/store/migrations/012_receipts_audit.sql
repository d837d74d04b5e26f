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
