-- 016: threads. A reply in a thread (`thread_root`) is a message of the conversation's log with
-- its own seq; it counts on its root (reply_count, last_reply_at) and in its participants'
-- thread entries, and leaves the conversation's preview, inbox entries and unread counts as
-- they are (docs/protocol.md, "Threads"). Must run on PostgreSQL 15 and on PGlite (PostgreSQL 18).
--
-- An ordinary send runs the same statements as before (migration 008): the root check and
-- the reply's writes are behind `v_thread IS NOT NULL`, a simple expression.

ALTER TABLE messages ADD COLUMN thread_root text;
ALTER TABLE messages ADD COLUMN reply_count integer NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN last_reply_at timestamptz;
-- Thread history, keyset by seq. Partial: an ordinary message adds no index entry.
CREATE INDEX messages_by_thread ON messages (tenant_id, thread_root, seq) WHERE thread_root IS NOT NULL;

-- A participant's state of one thread: the root's author, everyone who replied, everyone
-- mentioned in a reply. Unread counts the others' replies after last_read_seq.
CREATE TABLE thread_entries (
  tenant_id text NOT NULL,
  user_id text NOT NULL,
  root_id text NOT NULL,
  conversation_id text NOT NULL,
  last_read_seq bigint NOT NULL DEFAULT 0,
  unread_count integer NOT NULL DEFAULT 0,
  version bigint NOT NULL DEFAULT nextval('inbox_version'),
  PRIMARY KEY (tenant_id, user_id, root_id),
  FOREIGN KEY (tenant_id, conversation_id) REFERENCES conversations(tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX thread_entries_by_root ON thread_entries (tenant_id, root_id);
CREATE INDEX thread_entries_by_user ON thread_entries (tenant_id, user_id, conversation_id);

-- A message as jsonb (migration 005's shape): thread fields only when set, so an ordinary
-- message's JSON (and its event frame) is byte for byte what it was.
CREATE OR REPLACE FUNCTION herald_message_json(m messages) RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', m.id, 'tenant_id', m.tenant_id, 'conversation_id', m.conversation_id, 'seq', m.seq,
    'kind', m.kind,
    'sender', CASE WHEN m.sender_id IS NULL THEN jsonb_build_object('type', 'system')
                   ELSE jsonb_build_object('type', 'user', 'user_id', m.sender_id) END,
    'body', m.body, 'reply_to', m.reply_to, 'mentions', to_jsonb(m.mentions),
    'attachments', m.attachments, 'client_id', m.client_id, 'data', m.data,
    'created_at', herald_ts(m.created_at), 'edited_at', herald_ts(m.edited_at),
    'deleted_at', herald_ts(m.deleted_at))
  || CASE WHEN m.thread_root IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('thread_root', m.thread_root) END
  || CASE WHEN m.reply_count = 0 THEN '{}'::jsonb
          ELSE jsonb_build_object('reply_count', m.reply_count, 'last_reply_at', herald_ts(m.last_reply_at)) END
$$;

-- A ThreadEntry as jsonb (the `thread` frame's entry, GET …/threads/{root_id}).
CREATE FUNCTION herald_thread_entry(
  p_conversation text, p_root text, p_reply_count integer, p_last_reply_at timestamptz,
  p_last_read_seq bigint, p_unread integer, p_version bigint
) RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'conversation_id', p_conversation, 'root_id', p_root, 'reply_count', p_reply_count,
    'last_reply_at', herald_ts(p_last_reply_at), 'last_read_seq', p_last_read_seq,
    'unread_count', p_unread, 'version', p_version)
$$;

-- The writes of a thread reply, after herald_send_one checked it and wrote its message: one
-- statement. The conversation's head moves (the reply has a seq of its log) but not its
-- preview; the root counts the reply; the event carries the root's new count; the sender,
-- the root's author and the mentioned join the thread's participants (members only), and
-- every participant but the sender has one more unread reply. No inbox entry changes.
CREATE FUNCTION herald_send_reply(s jsonb, p_msg jsonb, p_seq bigint, p_root text, p_mentions text[],
                                  p_mode text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_tenant text := s->>'tenant';
  v_conv text := s->>'conversation';
  v_sender text := s->>'sender';
  v_trace text := s->>'trace';
  v_room text := 't:' || v_tenant || ':c:' || v_conv;
BEGIN
  WITH cv AS (
    UPDATE conversations SET last_seq = p_seq WHERE tenant_id = v_tenant AND id = v_conv),
  root AS (
    UPDATE messages SET reply_count = reply_count + 1, last_reply_at = now()
     WHERE tenant_id = v_tenant AND id = p_root
    RETURNING sender_id, reply_count, last_reply_at),
  summary AS (
    SELECT jsonb_build_object('root_id', p_root, 'reply_count', root.reply_count,
                              'last_reply_at', herald_ts(root.last_reply_at)) AS t
      FROM root),
  ev AS (
    INSERT INTO events (tenant_id, conversation_id, seq, type, message_id, payload)
    SELECT v_tenant, v_conv, p_seq, 'message.created', s->>'id',
           jsonb_build_object('type', 'message.created', 'message', p_msg, 'thread', summary.t)
      FROM summary),
  who AS (
    SELECT user_id AS u FROM thread_entries WHERE tenant_id = v_tenant AND root_id = p_root
    UNION
    SELECT u FROM unnest(array_prepend(v_sender, p_mentions)) u
    UNION
    SELECT sender_id FROM root),
  te AS (
    INSERT INTO thread_entries AS t (tenant_id, user_id, root_id, conversation_id, last_read_seq, unread_count)
    SELECT v_tenant, who.u, p_root, v_conv,
           CASE WHEN who.u = v_sender THEN p_seq ELSE 0 END,
           CASE WHEN who.u = v_sender THEN 0 ELSE 1 END
      FROM who
     WHERE who.u IS NOT NULL
       AND herald_in_audience(CASE WHEN p_mode = 'tenant' THEN 'tenant' ELSE 'members' END,
                              '{}', v_tenant, v_conv, who.u)
    ON CONFLICT (tenant_id, user_id, root_id) DO UPDATE SET
      last_read_seq = GREATEST(t.last_read_seq, EXCLUDED.last_read_seq),
      unread_count = CASE WHEN EXCLUDED.last_read_seq >= p_seq THEN 0 ELSE t.unread_count + 1 END,
      version = nextval('inbox_version')
    RETURNING t.*)
  INSERT INTO outbox (tenant_id, topic, payload, trace_id)
  SELECT v_tenant, v_room,
         jsonb_build_object('type', 'event', 'conversation', v_conv, 'seq', p_seq,
                            'event', jsonb_build_object('type', 'message.created', 'message', p_msg,
                                                        'thread', summary.t)),
         v_trace
    FROM summary
  UNION ALL
  SELECT v_tenant, 't:' || v_tenant || ':u:' || te.user_id,
         jsonb_build_object('type', 'thread',
                            'entry', herald_thread_entry(
           te.conversation_id, te.root_id, root.reply_count, root.last_reply_at, te.last_read_seq,
           te.unread_count, te.version)),
         v_trace
    FROM te, root;
  RETURN jsonb_build_object('message', p_msg);
END $$;

-- A thread reply pushes nobody (yet): the push decision (src/push/decide.ts) reaches every
-- recipient who has not read a seq, which for a reply would be the whole conversation instead
-- of the thread's participants.
DROP TRIGGER events_push ON events;
CREATE TRIGGER events_push AFTER INSERT ON events
  FOR EACH ROW WHEN (NEW.type = 'message.created' AND (NEW.payload->'message'->>'kind') IS DISTINCT FROM 'system'
                     AND NOT (NEW.payload->'message' ? 'thread_root'))
  EXECUTE FUNCTION herald_push_on_event();

-- herald_send_one as in 008, plus the thread root's check and the reply's writes (above).
CREATE OR REPLACE FUNCTION herald_send_one(s jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_tenant text := s->>'tenant';
  v_conv text := s->>'conversation';
  v_sender text := s->>'sender';
  v_kind text := s->>'kind';
  v_client text := s->>'client_id';
  v_hash text := s->>'hash';
  v_reply text := s->>'reply_to';
  -- A thread reply's root; a reply to a reply joins its root's thread (threads are one level).
  v_thread text := s->>'thread_root';
  v_trace text := s->>'trace';
  v_created boolean := COALESCE((s->>'created')::boolean, false);
  -- Filled below only when the lists are not empty: an ARRAY(SELECT …) is a query, with its
  -- executor start-up, where a comparison is a simple expression.
  v_mentions text[] := '{}';
  v_viewers text[] := '{}';
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
  IF COALESCE(s->'mentions', '[]') <> '[]' THEN
    v_mentions := ARRAY(SELECT jsonb_array_elements_text(s->'mentions'));
  END IF;
  IF COALESCE(s->'viewers', '[]') <> '[]' THEN
    v_viewers := ARRAY(SELECT jsonb_array_elements_text(s->'viewers'));
  END IF;
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
  IF v_reply IS NOT NULL THEN
    IF NOT EXISTS (
         SELECT 1 FROM messages WHERE tenant_id = v_tenant AND conversation_id = v_conv AND id = v_reply) THEN
      RETURN jsonb_build_object('error', 'INVALID_REPLY');
    END IF;
  END IF;
  IF v_thread IS NOT NULL THEN
    SELECT COALESCE(thread_root, id) INTO v_thread FROM messages
     WHERE tenant_id = v_tenant AND conversation_id = v_conv AND id = v_thread;
    IF NOT FOUND THEN
      RETURN jsonb_build_object('error', 'INVALID_THREAD_ROOT');
    END IF;
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
                             mentions, attachments, data, client_id, request_hash, thread_root)
  VALUES (v_tenant, s->>'id', v_conv, v_seq, v_kind, v_sender, s->>'body', v_reply, v_mentions,
          COALESCE(s->'attachments', '[]'), NULLIF(s->'data', 'null'::jsonb), v_client, v_hash, v_thread)
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

  IF v_thread IS NOT NULL THEN
    RETURN herald_send_reply(s, v_msg, v_seq, v_thread, v_mentions, v_mode);
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

