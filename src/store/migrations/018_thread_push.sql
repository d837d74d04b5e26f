-- 018: thread replies push the thread's participants (docs/push.md, "Threads"). Must run on
-- PostgreSQL 15 and on PGlite (PostgreSQL 18).
--
-- Migration 016 kept replies out of the push trigger, because the conversation's decision
-- reaches every member who has not read a seq. A reply's pending row now names its thread
-- root, and the dispatcher decides it over the thread's participants (thread_entries: the
-- root's author, who replied, who was mentioned) with the thread's own read marker, by the
-- same rules (src/push/decide.ts). Coalescing is per thread: a burst of replies is one push,
-- and a thread's pushes never cover, nor are covered by, the conversation's.

ALTER TABLE push_pending ADD COLUMN thread_root text;
-- Which thread a push (or skip) was for: the delivery log and the per-message summary tell
-- a reply's pushes from the conversation's, whose seq ranges interleave.
ALTER TABLE push_deliveries ADD COLUMN thread_root text;

-- push_state's twin per thread: the highest reply seq already decided for a participant.
CREATE TABLE push_thread_state (
  tenant_id text NOT NULL,
  user_id text NOT NULL,
  root_id text NOT NULL,
  conversation_id text NOT NULL,
  decided_seq bigint NOT NULL,
  PRIMARY KEY (tenant_id, user_id, root_id),
  FOREIGN KEY (tenant_id, conversation_id) REFERENCES conversations(tenant_id, id) ON DELETE CASCADE
);

-- As in 011, plus the reply's thread root (null for a message of the conversation itself).
CREATE OR REPLACE FUNCTION herald_push_on_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM push_devices WHERE tenant_id = NEW.tenant_id AND removed_at IS NULL) THEN
    RETURN NULL;
  END IF;
  INSERT INTO push_pending (tenant_id, conversation_id, seq, sender_id, mentions, thread_root)
  VALUES (NEW.tenant_id, NEW.conversation_id, NEW.seq, NEW.payload->'message'->'sender'->>'user_id',
          ARRAY(SELECT jsonb_array_elements_text(COALESCE(NEW.payload->'message'->'mentions', '[]'))),
          NEW.payload->'message'->>'thread_root');
  RETURN NULL;
END $$;

-- Replies are back in: the trigger's condition is 011's again.
DROP TRIGGER events_push ON events;
CREATE TRIGGER events_push AFTER INSERT ON events
  FOR EACH ROW WHEN (NEW.type = 'message.created' AND (NEW.payload->'message'->>'kind') IS DISTINCT FROM 'system')
  EXECUTE FUNCTION herald_push_on_event();
