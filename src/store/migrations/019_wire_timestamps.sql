-- 019: every timestamp on the wire in one format, herald_ts's (UTC, milliseconds, `Z`). The
-- inbox entry's `last_activity_at` was the raw timestamptz (`…:58.48274+00:00`) while every
-- other timestamp — and the large-channel hint's `last_activity_at` — had the `Z` form, so one
-- field arrived in two spellings and sorted wrongly as text. Same function otherwise (005).
CREATE OR REPLACE FUNCTION herald_inbox_entry(
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
    'last_activity_at', herald_ts(GREATEST(p_last_activity_at, COALESCE(p_last_message_at, p_last_activity_at))),
    'last_message', p_last_message, 'version', p_version)
$$;
