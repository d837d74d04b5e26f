-- 009: the outbox relay's claim as one statement of bounded cost (src/relay/outbox-relay.ts).
--
-- Before: `SELECT DISTINCT partition FROM outbox WHERE published_at IS NULL` to find the
-- partitions to lock (a scan of every pending row: O(backlog) per batch, so a relay that fell
-- behind got slower the further behind it was), then a second statement reading the oldest rows
-- of the owned partitions, sorted together.
--
-- Now: one call that (1) probes each of the 16 partitions for a pending row (one index probe
-- each) and takes `pg_try_advisory_xact_lock` on those it can, then (2) reads up to p_limit
-- oldest pending rows of each owned partition from the pending index, in id order. Step (2) is a separate
-- statement of a VOLATILE function, so in READ COMMITTED it reads from a snapshot taken after
-- the locks were granted: a previous owner's "published" marks, committed before it released
-- the partition, are visible and its rows are never read twice.
--
-- Returns `part`, not `partition`: a plpgsql output column named like a table column would be
-- ambiguous in the statements below.
CREATE FUNCTION herald_relay_claim(p_class integer, p_limit integer)
RETURNS TABLE (id bigint, topic text, part smallint, payload text, trace_id text, created_at timestamptz)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_owned smallint[];
BEGIN
  -- OFFSET 0 keeps the probe below the lock: only partitions with work are locked, so a second
  -- relay can take the ones this one leaves.
  SELECT array_agg(q.p) INTO v_owned
    FROM (SELECT g.p::smallint AS p FROM generate_series(0, 15) AS g(p)
           WHERE EXISTS (SELECT 1 FROM outbox o WHERE o.partition = g.p AND o.published_at IS NULL)
          OFFSET 0) q
   WHERE pg_try_advisory_xact_lock(p_class, q.p);
  IF v_owned IS NULL THEN
    RETURN;
  END IF;
  -- The batch's commit (its "published" marks) does not wait for the WAL flush: a mark lost in
  -- a server crash only republishes rows, which at-least-once delivery already allows (clients
  -- drop seq <= last_seq). The relay's cycle no longer pays an fsync per batch. Local to this
  -- transaction.
  PERFORM set_config('synchronous_commit', 'off', true);
  -- Per partition its oldest rows, in id order, through the pending index; no order across
  -- partitions is needed (a topic lives in one partition), so nothing is sorted or read beyond
  -- p_limit rows a partition. The caller drains again when a partition filled its p_limit.
  RETURN QUERY
    SELECT r.id, r.topic, r.partition, r.payload::text, r.trace_id, r.created_at
      FROM unnest(v_owned) AS w(p),
           LATERAL (SELECT o.id, o.topic, o.partition, o.payload, o.trace_id, o.created_at FROM outbox o
                     WHERE o.partition = w.p AND o.published_at IS NULL
                     ORDER BY o.partition, o.id LIMIT p_limit) r;
END $$;
