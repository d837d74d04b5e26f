-- 005: the write path as one statement per batch of sends, and request fingerprints for
-- idempotent replays. Must run on PostgreSQL 15 and on PGlite (PostgreSQL 18).

-- sha256 of the canonical request (conversation, body, reply_to, mentions, attachments, data):
-- a repeated (tenant, sender, client_id) replays only when it matches (IDEMPOTENCY_KEY_REUSED
-- otherwise). Messages stored before this migration have none and replay as before.
ALTER TABLE messages ADD COLUMN request_hash text;

-- A timestamp as the wire writes it: ISO 8601 in UTC with milliseconds, exactly what
-- JavaScript's Date#toISOString gives for the same value (both truncate the microseconds).
CREATE FUNCTION herald_ts(t timestamptz) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- The wire shape of a message (protocol Message, rows.ts toMessage), built beside the row so
-- the reply, the event log and the outbox frame are one value.
CREATE FUNCTION herald_message_json(m messages) RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', m.id, 'tenant_id', m.tenant_id, 'conversation_id', m.conversation_id, 'seq', m.seq,
    'kind', m.kind,
    'sender', CASE WHEN m.sender_id IS NULL THEN jsonb_build_object('type', 'system')
                   ELSE jsonb_build_object('type', 'user', 'user_id', m.sender_id) END,
    'body', m.body, 'reply_to', m.reply_to, 'mentions', to_jsonb(m.mentions),
    'attachments', m.attachments, 'client_id', m.client_id, 'data', m.data,
    'created_at', herald_ts(m.created_at), 'edited_at', herald_ts(m.edited_at),
    'deleted_at', herald_ts(m.deleted_at))
$$;

-- An InboxEntry as jsonb: the one definition (rows.ts inboxEntryJson calls it). Large channels
-- keep no per-message unread counter: unread derives from seqs (DESIGN §6).
CREATE FUNCTION herald_inbox_entry(
  p_conversation text, p_kind text, p_title text, p_last_seq bigint, p_member_count integer,
  p_last_message jsonb, p_last_message_at timestamptz, p_last_read_seq bigint,
  p_unread integer, p_mentions integer, p_archived boolean, p_muted boolean, p_pinned boolean,
  p_last_activity_at timestamptz, p_version bigint, p_large_threshold integer
) RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'conversation_id', p_conversation, 'kind', p_kind, 'title', p_title, 'last_seq', p_last_seq,
    'last_read_seq', p_last_read_seq,
    'unread_count', CASE WHEN p_kind = 'channel' AND p_member_count > p_large_threshold
                         THEN LEAST(GREATEST(p_last_seq - p_last_read_seq, 0), 999) ELSE p_unread END,
    'mention_count', p_mentions, 'archived', p_archived, 'muted', p_muted, 'pinned', p_pinned,
    'last_activity_at', GREATEST(p_last_activity_at, COALESCE(p_last_message_at, p_last_activity_at)),
    'last_message', p_last_message, 'version', p_version)
$$;

-- What a repeated (tenant, sender, client_id) gets: the original's current state when the
-- request matches, IDEMPOTENCY_KEY_REUSED when it does not.
CREATE FUNCTION herald_replay(m messages, p_hash text) RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN m.request_hash IS NULL OR m.request_hash = p_hash
              THEN jsonb_build_object('replayed', true, 'message', herald_message_json(m))
              ELSE jsonb_build_object('error', 'IDEMPOTENCY_KEY_REUSED') END
$$;

-- Whether a user is among a send's recipients ('members', 'tenant', or the given list).
CREATE FUNCTION herald_in_audience(p_mode text, p_list text[], p_tenant text, p_conv text, p_user text)
RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT CASE p_mode
    WHEN 'list' THEN p_user = ANY(p_list)
    WHEN 'tenant' THEN EXISTS (SELECT 1 FROM users WHERE tenant_id = p_tenant AND id = p_user)
    ELSE EXISTS (SELECT 1 FROM members WHERE tenant_id = p_tenant AND conversation_id = p_conv AND user_id = p_user)
  END
$$;

-- One send (DESIGN §4), inside the caller's transaction: lock the conversation (serializing
-- seq assignment), check kind, role, idempotency, reply and mentions, then assign the next seq
-- and write the message, its event, the preview, the room's outbox frame, a receipt per
-- viewer, every recipient's inbox entry and one `inbox` frame each. Refusals write nothing and
-- come back as {error, detail}: one bad send of a batch does not abort the others. Three
-- statements in the common case (lock, message, the rest), one more each for mentions,
-- viewers and a reply.
--
-- `s` (compose.ts SendSpec): tenant, conversation, sender (null: the system), kind (the message
-- kind; for user kinds also the conversation kind required), id, body, reply_to, mentions
-- (distinct), attachments, data, client_id, hash, viewers (the registry's viewers of the
-- conversation), subjects and created (system events), large (the large-channel threshold),
-- trace.
--
-- Who receives (the kind rules, DESIGN §3 and §6): direct and group: the members; channel:
-- the members, or above the threshold only the sender, the mentioned and every viewing member;
-- announcement: the tenant's users when its audience is the tenant, else the members; system:
-- the members, or above the threshold only the event's subjects (creation: every member).
-- Viewers, the sender and the subjects get the message already read.
CREATE FUNCTION herald_send_one(s jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_tenant text := s->>'tenant';
  v_conv text := s->>'conversation';
  v_sender text := s->>'sender';
  v_kind text := s->>'kind';
  v_client text := s->>'client_id';
  v_hash text := s->>'hash';
  v_reply text := s->>'reply_to';
  v_trace text := s->>'trace';
  v_created boolean := COALESCE((s->>'created')::boolean, false);
  v_mentions text[] := ARRAY(SELECT jsonb_array_elements_text(COALESCE(s->'mentions', '[]')));
  v_viewers text[] := ARRAY(SELECT jsonb_array_elements_text(COALESCE(s->'viewers', '[]')));
  v_c record;
  v_earlier messages;
  v_large boolean;
  -- Where the recipients are: 'members', 'tenant' (the tenant's users) or 'list' (v_list).
  v_mode text := 'members';
  v_list text[] := '{}';
  v_readers text[];
  v_unknown text[];
  v_seq bigint;
  v_msg jsonb;
  v_room text := 't:' || v_tenant || ':c:' || v_conv;
BEGIN
  SELECT cv.kind, cv.audience, cv.last_seq, cv.member_count, mb.role,
         CASE WHEN v_client IS NOT NULL AND v_sender IS NOT NULL THEN (
           SELECT m FROM messages m
            WHERE m.tenant_id = v_tenant AND m.sender_id = v_sender AND m.client_id = v_client) END AS earlier
    INTO v_c
    FROM conversations cv
    LEFT JOIN members mb ON mb.tenant_id = cv.tenant_id AND mb.conversation_id = cv.id AND mb.user_id = v_sender
   WHERE cv.tenant_id = v_tenant AND cv.id = v_conv
     FOR UPDATE OF cv;
  IF NOT FOUND THEN
    RETURN jsonb_build_object('error', 'CONVERSATION_NOT_FOUND');
  END IF;
  IF v_kind <> 'system' THEN
    IF v_c.kind <> v_kind THEN
      RETURN jsonb_build_object('error', 'INVALID_KIND', 'detail', 'Not a ' || v_kind || ' conversation.');
    END IF;
    IF v_kind = 'announcement' THEN
      IF v_sender IS NOT NULL AND v_c.role IS DISTINCT FROM 'admin' THEN
        RETURN jsonb_build_object('error', 'NOT_ADMIN');
      END IF;
    ELSIF v_c.role IS NULL THEN
      RETURN jsonb_build_object('error', 'NOT_A_MEMBER');
    END IF;
  END IF;
  IF (v_c.earlier).id IS NOT NULL THEN
    RETURN herald_replay(v_c.earlier, v_hash);
  END IF;
  IF v_reply IS NOT NULL AND NOT EXISTS (
       SELECT 1 FROM messages WHERE tenant_id = v_tenant AND conversation_id = v_conv AND id = v_reply) THEN
    RETURN jsonb_build_object('error', 'INVALID_REPLY');
  END IF;

  v_large := v_c.member_count > (s->>'large')::integer;
  IF v_kind = 'channel' AND v_large THEN
    -- O(1) rows: the sender, the mentioned (who must be members) and the viewing members.
    IF cardinality(v_mentions) > 0 THEN
      v_unknown := ARRAY(SELECT u FROM unnest(v_mentions) u WHERE NOT EXISTS (
        SELECT 1 FROM members WHERE tenant_id = v_tenant AND conversation_id = v_conv AND user_id = u));
    END IF;
    IF cardinality(v_viewers) > 0 THEN
      v_viewers := ARRAY(SELECT v FROM unnest(v_viewers) v WHERE EXISTS (
        SELECT 1 FROM members WHERE tenant_id = v_tenant AND conversation_id = v_conv AND user_id = v));
    END IF;
    v_mode := 'list';
    v_list := array_prepend(v_sender, v_mentions) || v_viewers;
  ELSE
    IF v_kind = 'system' THEN
      IF v_created THEN
        v_list := ARRAY(SELECT user_id FROM members WHERE tenant_id = v_tenant AND conversation_id = v_conv);
      ELSE
        v_list := ARRAY(SELECT jsonb_array_elements_text(COALESCE(s->'subjects', '[]')));
      END IF;
      IF v_large OR v_created THEN
        v_mode := 'list';
      END IF;
    ELSIF v_kind = 'announcement' AND v_c.audience = 'tenant' THEN
      v_mode := 'tenant';
    END IF;
    -- The viewing registry is TTL'd and checked only when a view starts: a viewer who left a
    -- moment ago may still be listed. Only recipients count, for viewers as for mentions.
    IF cardinality(v_mentions) > 0 THEN
      v_unknown := ARRAY(SELECT u FROM unnest(v_mentions) u WHERE NOT herald_in_audience(v_mode, v_list, v_tenant, v_conv, u));
    END IF;
    IF cardinality(v_viewers) > 0 THEN
      v_viewers := ARRAY(SELECT v FROM unnest(v_viewers) v WHERE herald_in_audience(v_mode, v_list, v_tenant, v_conv, v));
    END IF;
  END IF;
  IF cardinality(v_unknown) > 0 THEN
    RETURN jsonb_build_object('error', 'INVALID_MENTION',
      'detail', 'Not members: ' || array_to_string(v_unknown[1:5], ', ') || '.');
  END IF;

  v_seq := v_c.last_seq + 1;
  INSERT INTO messages AS m (tenant_id, id, conversation_id, seq, kind, sender_id, body, reply_to,
                             mentions, attachments, data, client_id, request_hash)
  VALUES (v_tenant, s->>'id', v_conv, v_seq, v_kind, v_sender, s->>'body', v_reply, v_mentions,
          COALESCE(s->'attachments', '[]'), NULLIF(s->'data', 'null'::jsonb), v_client, v_hash)
  ON CONFLICT (tenant_id, sender_id, client_id) WHERE client_id IS NOT NULL AND sender_id IS NOT NULL
  DO NOTHING
  RETURNING herald_message_json(m) INTO v_msg;
  IF v_msg IS NULL THEN
    -- A concurrent first send of this client_id (another transaction, another conversation)
    -- committed while this insert waited on it: answer as its replay. No seq was taken.
    SELECT * INTO v_earlier FROM messages
     WHERE tenant_id = v_tenant AND sender_id = v_sender AND client_id = v_client;
    IF NOT FOUND THEN
      RETURN jsonb_build_object('error', 'CONFLICT');
    END IF;
    RETURN herald_replay(v_earlier, v_hash);
  END IF;

  v_readers := v_viewers;
  IF v_kind = 'system' THEN
    v_readers := v_readers || v_list; -- the subjects
  END IF;
  IF v_sender IS NOT NULL THEN
    v_readers := v_readers || v_sender;
  END IF;
  -- The rest in one statement: preview and head, event, inbox entries, and the outbox rows in
  -- the order the relay publishes them (the room's event, receipts, then inbox frames).
  WITH cv AS (
    UPDATE conversations SET last_seq = v_seq,
           last_message = jsonb_build_object('message_id', v_msg->'id', 'seq', v_seq, 'sender', v_msg->'sender',
                                             'body', left(s->>'body', 140), 'kind', v_kind,
                                             'created_at', v_msg->'created_at'),
           last_message_at = now()
     WHERE tenant_id = v_tenant AND id = v_conv
    RETURNING id, kind, title, last_seq, member_count, last_message, last_message_at),
  ev AS (
    INSERT INTO events (tenant_id, conversation_id, seq, type, message_id, payload)
    VALUES (v_tenant, v_conv, v_seq, 'message.created', s->>'id',
            jsonb_build_object('type', 'message.created', 'message', v_msg))),
  r AS (
    SELECT user_id FROM members WHERE v_mode = 'members' AND tenant_id = v_tenant AND conversation_id = v_conv
    UNION ALL
    SELECT id FROM users WHERE v_mode = 'tenant' AND tenant_id = v_tenant
    UNION ALL
    SELECT DISTINCT u FROM unnest(v_list) u WHERE v_mode = 'list'),
  up AS (
    INSERT INTO inbox_entries AS e (tenant_id, user_id, conversation_id, last_read_seq, unread_count,
                                    mention_count, last_activity_at)
    SELECT v_tenant, r.user_id, v_conv,
           CASE WHEN r.user_id = ANY(v_readers) THEN v_seq ELSE 0 END,
           CASE WHEN r.user_id = ANY(v_readers) OR v_kind = 'system' THEN 0 ELSE 1 END,
           CASE WHEN r.user_id = ANY(v_mentions) AND NOT r.user_id = ANY(v_readers) THEN 1 ELSE 0 END,
           now()
      FROM r
    ON CONFLICT (tenant_id, user_id, conversation_id) DO UPDATE SET
      last_read_seq = GREATEST(e.last_read_seq, EXCLUDED.last_read_seq),
      unread_count = CASE WHEN EXCLUDED.last_read_seq >= v_seq THEN 0 ELSE e.unread_count + EXCLUDED.unread_count END,
      mention_count = CASE WHEN EXCLUDED.last_read_seq >= v_seq THEN 0 ELSE e.mention_count + EXCLUDED.mention_count END,
      last_activity_at = now(),
      version = nextval('inbox_version')
    RETURNING e.*)
  INSERT INTO outbox (tenant_id, topic, payload, trace_id)
  SELECT v_tenant, v_room,
         jsonb_build_object('type', 'event', 'conversation', v_conv, 'seq', v_seq,
                            'event', jsonb_build_object('type', 'message.created', 'message', v_msg)),
         v_trace
  UNION ALL
  SELECT v_tenant, v_room,
         jsonb_build_object('type', 'receipt', 'conversation', v_conv, 'user_id', u, 'seq', v_seq), v_trace
    FROM unnest(v_viewers) u WHERE u IS DISTINCT FROM v_sender
  UNION ALL
  SELECT v_tenant, 't:' || v_tenant || ':u:' || e.user_id,
         jsonb_build_object('type', 'inbox', 'entry', herald_inbox_entry(
           cv.id, cv.kind, cv.title, cv.last_seq, cv.member_count, cv.last_message, cv.last_message_at,
           e.last_read_seq, e.unread_count, e.mention_count, e.archived, e.muted, e.pinned,
           e.last_activity_at, e.version, (s->>'large')::integer)),
         v_trace
    FROM up e, cv;
  RETURN jsonb_build_object('message', v_msg);
END $$;

-- A batch of sends in one statement (group commit): each keeps its own seq, replay and
-- refusal. The caller orders the batch by (tenant, conversation) so that concurrent batches
-- take conversation locks in one order.
CREATE FUNCTION herald_send(p_sends jsonb) RETURNS SETOF jsonb LANGUAGE plpgsql AS $$
DECLARE
  s jsonb;
BEGIN
  FOR s IN SELECT value FROM jsonb_array_elements(p_sends) LOOP
    RETURN NEXT herald_send_one(s);
  END LOOP;
END $$;
