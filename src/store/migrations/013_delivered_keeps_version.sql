-- 013: a delivered ack does not change what a client syncs.
--
-- inbox_entries' sync stamp (migration 003) gives a row a new version whenever any column
-- changes, so every coalesced `delivered` ack (migration 012) bumped the entry's version —
-- with no `inbox` frame to the user's devices, because the delivered marker is not part of the
-- inbox entry they hold (it is receipts state: docs/delivery.md). Their copy of the entry then
-- lagged the server's version for ever, and every later `GET /v1/inbox?since=` re-sent the entry.
-- Found by the SDK chaos test (test/client/chaos): a client with two devices ended a run with
-- versions behind the server's. An update that moves only the delivered marker now keeps the
-- version and the transaction stamp; everything else is stamped as herald_sync_stamp does.
CREATE FUNCTION herald_inbox_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  probe inbox_entries;
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.version = OLD.version
     AND NEW.last_delivered_seq IS DISTINCT FROM OLD.last_delivered_seq THEN
    probe := NEW;
    probe.last_delivered_seq := OLD.last_delivered_seq;
    probe.xid := OLD.xid;
    IF probe IS NOT DISTINCT FROM OLD THEN
      NEW.xid := OLD.xid;
      RETURN NEW;
    END IF;
  END IF;
  -- herald_sync_stamp's rule (migration 003).
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
DROP TRIGGER inbox_entries_stamp ON inbox_entries;
CREATE TRIGGER inbox_entries_stamp BEFORE INSERT OR UPDATE ON inbox_entries
  FOR EACH ROW EXECUTE FUNCTION herald_inbox_stamp();
