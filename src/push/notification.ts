// What a push says, built when it is sent (not when it was decided): the newest message of
// the conversation, its unread count and the user's total badge as they are now. A push
// whose messages were read meanwhile is not sent at all. A thread push says the same of the
// thread: its newest reply, its unread count (the thread entry's), under its own collapse key.
import type { PushConfig } from '../config.ts';
import { previewBody } from '../protocol/index.ts';
import type { Sql } from '../store/db.ts';
import type { PushNotification } from './providers/port.ts';

export interface NotificationSource {
  tenant_id: string;
  user_id: string;
  push_id: string;
  kind: 'message' | 'test';
  conversation_id: string | null;
  /** A thread push: what it says is the thread's. */
  thread_root: string | null;
  last_seq: number | null;
}

/** The user's total unread over conversations that are neither muted nor archived. */
const BADGE = `
  SELECT COALESCE(sum(CASE WHEN c.kind = 'channel' AND c.member_count > $3
                           THEN LEAST(GREATEST(c.last_seq - e.last_read_seq, 0), 999)
                           ELSE e.unread_count END), 0)::int AS badge
    FROM inbox_entries e JOIN conversations c ON c.tenant_id = e.tenant_id AND c.id = e.conversation_id
   WHERE e.tenant_id = $1 AND e.user_id = $2 AND NOT e.muted AND NOT e.archived`;

export async function badgeOf(sql: Sql, tenant: string, user: string, large: number): Promise<number> {
  const { rows } = await sql.query<{ badge: number }>(BADGE, [tenant, user, large]);
  return Number(rows[0]?.badge ?? 0);
}

// The user's thread entry, the newest reply still there, and whether the user still receives
// the conversation (an inbox entry: one who left has none).
const THREAD = `
  SELECT c.kind, c.title, t.last_read_seq, t.unread_count, m.id AS message_id, m.seq, m.body, m.sender_id,
         (SELECT COALESCE(u.display_name, u.id) FROM users u
           WHERE u.tenant_id = c.tenant_id AND u.id = m.sender_id) AS sender_name
    FROM conversations c
    JOIN inbox_entries e ON e.tenant_id = c.tenant_id AND e.user_id = $2 AND e.conversation_id = c.id
    JOIN thread_entries t ON t.tenant_id = c.tenant_id AND t.user_id = $2 AND t.root_id = $4
    LEFT JOIN LATERAL (
      SELECT id, seq, body, sender_id FROM messages
       WHERE tenant_id = c.tenant_id AND thread_root = $4 AND deleted_at IS NULL
       ORDER BY seq DESC LIMIT 1) m ON true
   WHERE c.tenant_id = $1 AND c.id = $3`;

const TEST_BODY = 'If you can read this, push works for this device.';

/**
 * The notification, or why it is not sent ('read': the user has caught up meanwhile, or
 * what was unread was deleted).
 */
export async function buildNotification(
  sql: Sql,
  d: NotificationSource,
  config: PushConfig,
  threshold: number,
): Promise<PushNotification | { skip: 'read' }> {
  const base = { pushId: d.push_id, kind: d.kind, ttlSec: config.ttlSec };
  if (d.kind === 'test' || d.conversation_id === null) {
    return {
      ...base,
      title: 'Herald test push',
      body: TEST_BODY,
      badge: await badgeOf(sql, d.tenant_id, d.user_id, threshold),
      collapseKey: 'herald-test',
      data: { type: 'test' },
    };
  }
  if (d.thread_root !== null)
    return threadNotification(
      sql,
      { ...d, conversation_id: d.conversation_id, thread_root: d.thread_root },
      config,
      threshold,
      base,
    );
  const { rows } = await sql.query<{
    kind: string;
    title: string | null;
    last_message: { message_id: string; seq: number; body: string; sender: { user_id?: string } } | null;
    last_seq: string;
    member_count: number;
    last_read_seq: string | null;
    unread_count: number | null;
    sender_name: string | null;
  }>(
    `SELECT c.kind, c.title, c.last_message, c.last_seq, c.member_count, e.last_read_seq, e.unread_count,
            (SELECT COALESCE(u.display_name, u.id) FROM users u
              WHERE u.tenant_id = c.tenant_id AND u.id = c.last_message->'sender'->>'user_id') AS sender_name
       FROM conversations c
       LEFT JOIN inbox_entries e ON e.tenant_id = c.tenant_id AND e.user_id = $2 AND e.conversation_id = c.id
      WHERE c.tenant_id = $1 AND c.id = $3`,
    [d.tenant_id, d.user_id, d.conversation_id],
  );
  const c = rows[0];
  const readTo = Number(c?.last_read_seq ?? 0);
  // Gone (left, conversation deleted) or read up to what this push covers.
  if (!c || c.last_read_seq === null || readTo >= Number(d.last_seq)) return { skip: 'read' };
  const head = Number(c.last_seq);
  const large = c.kind === 'channel' && c.member_count > threshold;
  const unread = large ? Math.min(Math.max(head - readTo, 0), 999) : Number(c.unread_count ?? 0);
  // Nothing left unread (the messages were deleted meanwhile): nothing to tell.
  if (unread === 0) return { skip: 'read' };
  const sender = c.last_message?.sender?.user_id ? (c.sender_name ?? c.last_message.sender.user_id) : null;
  const preview = c.last_message?.body ?? '';
  const hidden = unread > 1 ? `${unread} new messages` : 'New message';
  const text = config.showBody && preview ? preview : hidden;
  const direct = c.kind === 'direct';
  return {
    ...base,
    title: direct ? (sender ?? 'New message') : (c.title ?? 'New message'),
    body: !direct && sender && config.showBody ? `${sender}: ${text}` : text,
    badge: await badgeOf(sql, d.tenant_id, d.user_id, threshold),
    collapseKey: d.conversation_id,
    data: {
      type: 'message',
      conversation_id: d.conversation_id,
      seq: String(c.last_message?.seq ?? head),
      message_id: c.last_message?.message_id ?? '',
      unread: String(unread),
    },
  };
}

async function threadNotification(
  sql: Sql,
  d: NotificationSource & { conversation_id: string; thread_root: string },
  config: PushConfig,
  threshold: number,
  base: Pick<PushNotification, 'pushId' | 'kind' | 'ttlSec'>,
): Promise<PushNotification | { skip: 'read' }> {
  const { rows } = await sql.query<{
    kind: string;
    title: string | null;
    last_read_seq: string;
    unread_count: number;
    message_id: string | null;
    seq: string | null;
    body: string | null;
    sender_id: string | null;
    sender_name: string | null;
  }>(THREAD, [d.tenant_id, d.user_id, d.conversation_id, d.thread_root]);
  const t = rows[0];
  // Gone, read up to what this push covers, or its replies deleted meanwhile.
  if (!t || Number(t.last_read_seq) >= Number(d.last_seq) || t.unread_count === 0 || t.message_id === null)
    return { skip: 'read' };
  const sender = t.sender_id ? (t.sender_name ?? t.sender_id) : null;
  const unread = Number(t.unread_count);
  const hidden = unread > 1 ? `${unread} new replies` : 'New reply';
  // Cut as the conversation's preview is (140 code points), which its pushes show.
  const text = config.showBody && t.body ? previewBody(t.body) : hidden;
  const direct = t.kind === 'direct';
  return {
    ...base,
    title: direct ? (sender ?? 'New reply') : t.title ? `Thread in ${t.title}` : 'New reply',
    body: !direct && sender && config.showBody ? `${sender}: ${text}` : text,
    // The badge stays the inbox's: thread replies do not count in a conversation's unread.
    badge: await badgeOf(sql, d.tenant_id, d.user_id, threshold),
    // One notification per thread, beside the conversation's.
    collapseKey: `${d.conversation_id}:${d.thread_root}`,
    data: {
      type: 'thread',
      conversation_id: d.conversation_id,
      root_id: d.thread_root,
      seq: String(t.seq),
      message_id: t.message_id,
      unread: String(unread),
    },
  };
}
