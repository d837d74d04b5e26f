-- 003: explicit tenant grants on sessions, commit-safe sync cursors, and
-- inbox tombstones. Must run on PostgreSQL 15 and on PGlite (PostgreSQL 18).

-- A session's tenants are what it was granted, never "every tenant where the
-- same user id exists" (that lets acme's alice act as globex's alice).
-- Sessions from before this migration keep only the tenant they act in.
ALTER TABLE refresh_tokens ADD COLUMN tenants text[];
UPDATE refresh_tokens SET tenants = ARRAY[active_tenant];
ALTER TABLE refresh_tokens ALTER COLUMN tenants SET NOT NULL;
DROP INDEX IF EXISTS users_by_id;

-- Operator grants: user `user_id` of `tenant_id` may also act in `granted_tenant`
-- (as the user of the same id there). Only POST /v1/tenants/{id}/grants writes them.
CREATE TABLE tenant_grants (
  tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  user_id text NOT NULL,
  granted_tenant text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, user_id, granted_tenant)
);

-- Sync cursors. A sequence value is taken before commit, so a transaction holding
-- version 100 can commit after 101 was already handed out as a cursor. Each row
-- therefore records the writing transaction's id; a sync returns only rows of
-- transactions older than every transaction still in flight
-- (xid < pg_snapshot_xmin(pg_current_snapshot())) and its cursor is that xmin.
-- (Filtering by xid but keeping the version as cursor is not enough: a
-- transaction's xid is assigned at its first write, its version later, so an
-- older xid can hold a newer version than a younger in-flight one.)
ALTER TABLE inbox_entries ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();
ALTER TABLE notice_entries ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();

-- Leaving or being removed leaves a tombstone so a version sync can report it.
-- A rejoin deletes it (the new inbox entry supersedes it).
CREATE TABLE inbox_tombstones (
  tenant_id text NOT NULL,
  user_id text NOT NULL,
  conversation_id text NOT NULL,
  -- The conversation's head when the user left: what they last could see.
  last_seq integer NOT NULL,
  removed_at timestamptz NOT NULL DEFAULT now(),
  version bigint NOT NULL DEFAULT nextval('inbox_version'),
  xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
  PRIMARY KEY (tenant_id, user_id, conversation_id),
  FOREIGN KEY (tenant_id, conversation_id) REFERENCES conversations(tenant_id, id) ON DELETE CASCADE
);

-- Every write stamps the row with its transaction, and a change a writer made
-- without bumping the version still gets a fresh one, so no writer can
-- produce a change that sync misses.
CREATE FUNCTION herald_sync_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF NEW.version = OLD.version THEN
      NEW.xid := OLD.xid;
      IF NEW IS NOT DISTINCT FROM OLD THEN
        RETURN NEW;
      END IF;
      NEW.version := nextval('inbox_version');
    END IF;
  END IF;
  NEW.xid := pg_current_xact_id();
  RETURN NEW;
END $$;
CREATE TRIGGER inbox_entries_stamp BEFORE INSERT OR UPDATE ON inbox_entries
  FOR EACH ROW EXECUTE FUNCTION herald_sync_stamp();
CREATE TRIGGER notice_entries_stamp BEFORE INSERT OR UPDATE ON notice_entries
  FOR EACH ROW EXECUTE FUNCTION herald_sync_stamp();
CREATE TRIGGER inbox_tombstones_stamp BEFORE INSERT OR UPDATE ON inbox_tombstones
  FOR EACH ROW EXECUTE FUNCTION herald_sync_stamp();

DROP INDEX IF EXISTS inbox_by_version;
CREATE INDEX inbox_by_xid ON inbox_entries (tenant_id, user_id, xid, version);
DROP INDEX IF EXISTS notice_entries_by_version;
CREATE INDEX notice_entries_by_xid ON notice_entries (tenant_id, user_id, xid, version);
CREATE INDEX inbox_tombstones_by_xid ON inbox_tombstones (tenant_id, user_id, xid, version);
