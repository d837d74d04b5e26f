-- 017: herald_send writes a batch set-wise: one statement per table for a run of sends
-- instead of herald_send_one's statements once per send. Must run on PostgreSQL 15 and on PGlite (PostgreSQL 18).
--
-- Why: once plans were cached (migration 008), a large share of PostgreSQL's CPU per send was
-- executor start-up of each of herald_send_one's statements (14–18 %), paid per send however
-- large the batch (docs/benchmarks.md, "Write path, session 2"). Here a run of sends is
-- checked by one statement, its messages written by one INSERT and the rest (heads and
-- previews, events, inbox entries, outbox rows) by one more, whatever the run's length.
--
-- Same outcomes and rows as herald_send_one, send by send, in input order. The batch is cut
-- into runs ("segments") of consecutive sends that cannot see each other's writes:
--   * a user's message (sender set) to a direct, group or channel conversation, not a thread
--     reply — the sends that are checked only against members, and write only their own
--     conversation's rows;
--   * no two sends of a run to one conversation (each run takes one seq per conversation and
--     touches each inbox entry once), and no two with one (tenant, sender, client_id) (a
--     repeat must see the first as its earlier message).
-- A run's checks therefore read nothing an earlier send of the run writes, and its writes
-- are those of the sends one after the other. Sequences are drawn in the same order too:
-- every INSERT takes its rows ordered by position in the batch. Everything else — system
-- events, announcements, thread replies — runs through herald_send_one where it stands.

-- One accepted send of a run, as the writing statements take it.
CREATE TYPE herald_send_item AS (
  o integer,            -- position in the run
  tenant text,
  conversation text,
  sender text,
  kind text,
  id text,
  body text,
  reply_to text,
  mentions text[],
  attachments jsonb,
  data jsonb,
  client_id text,
  hash text,
  viewers text[],       -- the viewing members: they and the sender read it at once
  list text[],          -- a large channel's recipients (sender, mentioned, viewers); null: the members
  seq bigint,
  large integer,
  trace text
);

-- A run of sends (see above), checked and written set-wise; the outcomes in order.
--
-- Its statements run on generic plans (herald_send's setting) with the planner's own join
-- choices: forcing key lookups (enable_seqscan / enable_hashjoin / enable_mergejoin off, tried)
-- measured no faster, and on small vacuumed tables made it scan a whole smaller index instead.
CREATE FUNCTION herald_send_set(p_sends jsonb) RETURNS jsonb[] LANGUAGE plpgsql
AS $$
DECLARE
  v_res jsonb[];
  v_items herald_send_item[];
  v_ids text[];
  v_msgs jsonb[];
  v_kept herald_send_item[] := '{}';
  v_kept_msgs jsonb[] := '{}';
  v_earlier messages;
  it herald_send_item;
  k integer := 1;
BEGIN
  -- The checks of herald_send_one, in its order, for every send at once. Conversations are
  -- locked in the run's order (the batch's: one order for every batch), then read as locked.
  WITH x AS MATERIALIZED (
    SELECT * FROM ROWS FROM (jsonb_to_recordset(p_sends) AS (
             tenant text, conversation text, sender text, kind text, id text, body text,
             reply_to text, mentions jsonb, attachments jsonb, data jsonb, client_id text,
             hash text, viewers jsonb, large integer, trace text))
           WITH ORDINALITY AS x(tenant, conversation, sender, kind, id, body, reply_to, mentions,
                                attachments, data, client_id, hash, viewers, large, trace, o)),
  lk AS MATERIALIZED (
    SELECT cv.tenant_id, cv.id, cv.kind, cv.last_seq, cv.member_count
      FROM x JOIN conversations cv ON cv.tenant_id = x.tenant AND cv.id = x.conversation
     ORDER BY x.o
       FOR UPDATE OF cv),
  -- Materialized: each lookup runs once per send however often d reads its result.
  c AS MATERIALIZED (
    SELECT x.*, lk.id AS found, lk.kind AS conv_kind, lk.last_seq, lk.member_count > x.large AS is_large,
           (SELECT mb.role FROM members mb
             WHERE mb.tenant_id = x.tenant AND mb.conversation_id = x.conversation AND mb.user_id = x.sender) AS role,
           CASE WHEN x.client_id IS NOT NULL THEN (
             SELECT m FROM messages m
              WHERE m.tenant_id = x.tenant AND m.sender_id = x.sender AND m.client_id = x.client_id) END AS earlier,
           x.reply_to IS NULL OR EXISTS (
             SELECT 1 FROM messages m
              WHERE m.tenant_id = x.tenant AND m.conversation_id = x.conversation AND m.id = x.reply_to) AS reply_ok,
           CASE WHEN COALESCE(x.mentions, '[]') <> '[]'
                THEN ARRAY(SELECT jsonb_array_elements_text(x.mentions)) ELSE '{}' END AS mention_list,
           -- Every recipient of these kinds is a member (the large channel's list too):
           -- mentions must be members, and only viewing members count.
           -- In the lists' order (a planner's anti or semi join need not keep it).
           CASE WHEN COALESCE(x.mentions, '[]') <> '[]' THEN ARRAY(
             SELECT l.u FROM jsonb_array_elements_text(x.mentions) WITH ORDINALITY AS l(u, n) WHERE NOT EXISTS (
               SELECT 1 FROM members mb
                WHERE mb.tenant_id = x.tenant AND mb.conversation_id = x.conversation AND mb.user_id = l.u)
              ORDER BY l.n) END AS unknown,
           CASE WHEN COALESCE(x.viewers, '[]') <> '[]' THEN ARRAY(
             SELECT l.v FROM jsonb_array_elements_text(x.viewers) WITH ORDINALITY AS l(v, n) WHERE EXISTS (
               SELECT 1 FROM members mb
                WHERE mb.tenant_id = x.tenant AND mb.conversation_id = x.conversation AND mb.user_id = l.v)
              ORDER BY l.n)
                ELSE '{}' END AS viewer_list
      FROM x LEFT JOIN lk ON lk.tenant_id = x.tenant AND lk.id = x.conversation),
  d AS (
    SELECT c.*,
           CASE WHEN c.found IS NULL THEN jsonb_build_object('error', 'CONVERSATION_NOT_FOUND')
                WHEN c.conv_kind <> c.kind
                  THEN jsonb_build_object('error', 'INVALID_KIND', 'detail', 'Not a ' || c.kind || ' conversation.')
                WHEN c.role IS NULL THEN jsonb_build_object('error', 'NOT_A_MEMBER')
                WHEN (c.earlier).id IS NOT NULL THEN herald_replay(c.earlier, c.hash)
                WHEN NOT c.reply_ok THEN jsonb_build_object('error', 'INVALID_REPLY')
                WHEN cardinality(c.unknown) > 0
                  THEN jsonb_build_object('error', 'INVALID_MENTION',
                         'detail', 'Not members: ' || array_to_string(c.unknown[1:5], ', ') || '.')
           END AS outcome
      FROM c)
  SELECT array_agg(d.outcome ORDER BY d.o),
         array_agg(ROW(d.o, d.tenant, d.conversation, d.sender, d.kind, d.id, d.body, d.reply_to,
                       d.mention_list, COALESCE(d.attachments, '[]'), d.data, d.client_id, d.hash,
                       d.viewer_list,
                       CASE WHEN d.kind = 'channel' AND d.is_large
                            THEN array_prepend(d.sender, d.mention_list) || d.viewer_list END,
                       d.last_seq + 1, d.large, d.trace)::herald_send_item ORDER BY d.o)
           FILTER (WHERE d.outcome IS NULL)
    INTO v_res, v_items
    FROM d;
  IF v_items IS NULL THEN
    RETURN v_res;
  END IF;

  WITH ins AS (
    INSERT INTO messages AS m (tenant_id, id, conversation_id, seq, kind, sender_id, body, reply_to,
                               mentions, attachments, data, client_id, request_hash)
    SELECT i.tenant, i.id, i.conversation, i.seq, i.kind, i.sender, i.body, i.reply_to, i.mentions,
           i.attachments, i.data, i.client_id, i.hash
      FROM unnest(v_items) i
     ORDER BY i.o
    ON CONFLICT (tenant_id, sender_id, client_id) WHERE client_id IS NOT NULL AND sender_id IS NOT NULL
    DO NOTHING
    RETURNING m.id, herald_message_json(m) AS msg)
  SELECT array_agg(ins.id), array_agg(ins.msg) INTO v_ids, v_msgs FROM ins;

  -- Match the inserted rows to the items (RETURNING keeps the insert's order). An item whose
  -- insert did nothing met a concurrent first send of its client_id (another transaction)
  -- that committed while it waited: its replay, as in herald_send_one. It took no seq.
  FOREACH it IN ARRAY v_items LOOP
    IF v_ids IS NOT NULL AND k <= cardinality(v_ids) AND v_ids[k] = it.id THEN
      v_res[it.o] := jsonb_build_object('message', v_msgs[k]);
      v_kept := v_kept || it;
      v_kept_msgs := v_kept_msgs || v_msgs[k];
      k := k + 1;
    ELSE
      SELECT * INTO v_earlier FROM messages
       WHERE tenant_id = it.tenant AND sender_id = it.sender AND client_id = it.client_id;
      IF NOT FOUND THEN
        v_res[it.o] := jsonb_build_object('error', 'CONFLICT');
      ELSE
        v_res[it.o] := herald_replay(v_earlier, it.hash);
      END IF;
    END IF;
  END LOOP;
  IF cardinality(v_kept) = 0 THEN
    RETURN v_res;
  END IF;

  -- herald_send_one's last statement for every written send: preview and head, event, inbox
  -- entries, and the outbox rows — per send the room's event, receipts, then inbox frames.
  WITH a AS MATERIALIZED (
    SELECT i.*, mm.msg
      FROM unnest(v_kept) WITH ORDINALITY AS i
      JOIN unnest(v_kept_msgs) WITH ORDINALITY AS mm(msg, n) ON mm.n = i.ordinality),
  cv AS (
    UPDATE conversations c SET last_seq = a.seq,
           last_message = jsonb_build_object('message_id', a.msg->'id', 'seq', a.seq, 'sender', a.msg->'sender',
                                             'body', left(a.body, 140), 'kind', a.kind,
                                             'created_at', a.msg->'created_at'),
           last_message_at = now()
      FROM a
     WHERE c.tenant_id = a.tenant AND c.id = a.conversation
    RETURNING a.o, c.id, c.kind, c.title, c.last_seq, c.member_count, c.last_message, c.last_message_at),
  ev AS (
    INSERT INTO events (tenant_id, conversation_id, seq, type, message_id, payload)
    SELECT a.tenant, a.conversation, a.seq, 'message.created', a.id,
           jsonb_build_object('type', 'message.created', 'message', a.msg)
      FROM a
     ORDER BY a.o),
  r AS (
    SELECT a.o, mb.user_id
      FROM a JOIN members mb ON mb.tenant_id = a.tenant AND mb.conversation_id = a.conversation
     WHERE a.list IS NULL
    UNION ALL
    SELECT a.o, l.u
      FROM a, LATERAL (SELECT DISTINCT u FROM unnest(a.list) u) l
     WHERE a.list IS NOT NULL),
  up AS (
    INSERT INTO inbox_entries AS e (tenant_id, user_id, conversation_id, last_read_seq, unread_count,
                                    mention_count, last_activity_at)
    SELECT a.tenant, r.user_id, a.conversation,
           CASE WHEN r.user_id = a.sender OR r.user_id = ANY(a.viewers) THEN a.seq ELSE 0 END,
           CASE WHEN r.user_id = a.sender OR r.user_id = ANY(a.viewers) THEN 0 ELSE 1 END,
           CASE WHEN r.user_id = ANY(a.mentions) AND NOT (r.user_id = a.sender OR r.user_id = ANY(a.viewers))
                THEN 1 ELSE 0 END,
           now()
      FROM r JOIN a ON a.o = r.o
     ORDER BY r.o, r.user_id
    -- EXCLUDED.last_read_seq is the send's seq (≥ 1) for a reader, else 0.
    ON CONFLICT (tenant_id, user_id, conversation_id) DO UPDATE SET
      last_read_seq = GREATEST(e.last_read_seq, EXCLUDED.last_read_seq),
      unread_count = CASE WHEN EXCLUDED.last_read_seq > 0 THEN 0 ELSE e.unread_count + EXCLUDED.unread_count END,
      mention_count = CASE WHEN EXCLUDED.last_read_seq > 0 THEN 0 ELSE e.mention_count + EXCLUDED.mention_count END,
      last_activity_at = now(),
      version = nextval('inbox_version')
    RETURNING e.*)
  INSERT INTO outbox (tenant_id, topic, payload, trace_id)
  SELECT f.tenant, f.topic, f.payload, f.trace
    FROM (
      SELECT a.o, 0 AS part, 0::bigint AS n, ''::text AS u, a.tenant,
             't:' || a.tenant || ':c:' || a.conversation AS topic,
             jsonb_build_object('type', 'event', 'conversation', a.conversation, 'seq', a.seq,
                                'event', jsonb_build_object('type', 'message.created', 'message', a.msg)) AS payload,
             a.trace
        FROM a
      UNION ALL
      SELECT a.o, 1, v.n, v.u, a.tenant, 't:' || a.tenant || ':c:' || a.conversation,
             jsonb_build_object('type', 'receipt', 'conversation', a.conversation, 'user_id', v.u, 'seq', a.seq),
             a.trace
        FROM a, unnest(a.viewers) WITH ORDINALITY AS v(u, n)
       WHERE v.u IS DISTINCT FROM a.sender
      UNION ALL
      SELECT a.o, 2, 0, e.user_id, a.tenant, 't:' || a.tenant || ':u:' || e.user_id,
             jsonb_build_object('type', 'inbox', 'entry', herald_inbox_entry(
               cv.id, cv.kind, cv.title, cv.last_seq, cv.member_count, cv.last_message, cv.last_message_at,
               e.last_read_seq, e.unread_count, e.mention_count, e.archived, e.muted, e.pinned,
               e.last_activity_at, e.version, a.large)),
             a.trace
        FROM up e
        JOIN a ON a.tenant = e.tenant_id AND a.conversation = e.conversation_id
        JOIN cv ON cv.o = a.o) f
   ORDER BY f.o, f.part, f.n, f.u;
  RETURN v_res;
END $$;

-- The batch: runs of set-wise sends (above), and herald_send_one for the others, in order.
-- Same signature and setting (generic plans, migration 008) as before.
-- (CREATE OR REPLACE resets a function's settings: the SET clause is restated here.)
CREATE OR REPLACE FUNCTION herald_send(p_sends jsonb) RETURNS SETOF jsonb LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  n integer := jsonb_array_length(p_sends);
  v_convs text[];
  v_keys text[];
  v_set boolean[];
  i integer := 1;
  j integer;
  r jsonb;
BEGIN
  -- One send (an idle node's batch): no run to find, and no statement spent looking.
  IF n = 1 THEN
    RETURN NEXT herald_send_one(p_sends->0);
    RETURN;
  END IF;
  SELECT array_agg(jsonb_build_array(s->'tenant', s->'conversation')::text ORDER BY o),
         array_agg(CASE WHEN s->>'client_id' IS NOT NULL
                        THEN jsonb_build_array(s->'tenant', s->'sender', s->'client_id')::text END ORDER BY o),
         array_agg(COALESCE(s->>'sender' IS NOT NULL AND s->>'kind' IN ('direct', 'group', 'channel')
                            AND s->>'thread_root' IS NULL, false) ORDER BY o)
    INTO v_convs, v_keys, v_set
    FROM jsonb_array_elements(p_sends) WITH ORDINALITY AS t(s, o);
  WHILE i <= n LOOP
    IF NOT v_set[i] THEN
      RETURN NEXT herald_send_one(p_sends->(i - 1));
      i := i + 1;
      CONTINUE;
    END IF;
    j := i;
    WHILE j < n AND v_set[j + 1] AND NOT v_convs[j + 1] = ANY(v_convs[i:j])
          AND (v_keys[j + 1] IS NULL OR NOT v_keys[j + 1] = ANY(v_keys[i:j])) LOOP
      j := j + 1;
    END LOOP;
    -- A run of one costs fewer statements the row-at-a-time way.
    IF j = i THEN
      RETURN NEXT herald_send_one(p_sends->(i - 1));
      i := i + 1;
      CONTINUE;
    END IF;
    FOREACH r IN ARRAY herald_send_set(
        CASE WHEN i = 1 AND j = n THEN p_sends
             ELSE jsonb_path_query_array(p_sends, format('$[%s to %s]', i - 1, j - 1)::jsonpath) END) LOOP
      RETURN NEXT r;
    END LOOP;
    i := j + 1;
  END LOOP;
END $$;
