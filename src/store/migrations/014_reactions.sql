-- 014: reactions (src/domain/kinds/reactions.ts). One row per (user, message, emoji): the
-- primary key is what makes adding twice a no-op. Each add or remove is also an event in the
-- conversation log (type reaction.added / reaction.removed), written by the generic action
-- path (src/domain/kind-actions.ts); this table holds the current state that history
-- aggregates. Must run on PostgreSQL 15 and on PGlite (PostgreSQL 18).
CREATE TABLE reactions (
  tenant_id text NOT NULL,
  message_id text NOT NULL,
  user_id text NOT NULL,
  emoji text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, message_id, user_id, emoji),
  FOREIGN KEY (tenant_id, message_id) REFERENCES messages (tenant_id, id) ON DELETE CASCADE
);
-- History aggregates per message and emoji: the primary key's prefix (tenant, message) serves it.
