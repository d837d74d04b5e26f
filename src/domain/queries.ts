// Read-side SQL of conversations for the HTTP API (and the gateway's catch-up): the access
// check, history, the event log, members. The user's inbox and notices are in
// recipient-state.ts. Sql port only. Every statement filters by tenant, and every read of a
// conversation first checks the reader may see it.
import type { Conversation, ConversationEvent, Member, Message } from '../protocol/index.ts';
import { HeraldError } from '../protocol/index.ts';
import { mayRead } from './access.ts';
import type { Row, Sql } from './ports.ts';
import { iso, toMessage } from './rows.ts';

/** The most rows any list returns in one page. */
export const MAX_PAGE = 200;

export interface ReadableConversation {
  conversation: Conversation;
  role: Member['role'] | null;
  audience: 'members' | 'tenant';
}

export function toConversation(r: Row): Conversation {
  return {
    id: r.id as string,
    tenant_id: r.tenant_id as string,
    kind: r.kind as Conversation['kind'],
    title: (r.title as string | null) ?? null,
    last_seq: Number(r.last_seq),
    member_count: Number(r.member_count),
    last_message: (r.last_message as Conversation['last_message']) ?? null,
    created_at: iso(r.created_at),
  };
}

/**
 * The conversation as `user` may see it: members, and every user of the
 * tenant for tenant-wide announcements. Other tenants' ids are not found.
 */
export async function readableConversation(
  sql: Sql,
  tenant: string,
  user: string,
  id: string,
): Promise<ReadableConversation> {
  const { rows } = await sql.query(
    `SELECT c.*, m.role FROM conversations c
       LEFT JOIN members m ON m.tenant_id = c.tenant_id AND m.conversation_id = c.id AND m.user_id = $3
      WHERE c.tenant_id = $1 AND c.id = $2`,
    [tenant, id, user],
  );
  const r = rows[0];
  if (!r) throw new HeraldError('CONVERSATION_NOT_FOUND');
  const role = (r.role as Member['role'] | null) ?? null;
  const audience = r.audience as 'members' | 'tenant';
  if (!mayRead({ kind: r.kind as string, audience }, role !== null)) throw new HeraldError('NOT_A_MEMBER');
  return { conversation: toConversation(r), role, audience };
}

/** Kind of a conversation of the tenant (routing a send to its command). */
export async function conversationKind(sql: Sql, tenant: string, id: string): Promise<Conversation['kind']> {
  const { rows } = await sql.query<{ kind: Conversation['kind'] }>(
    'SELECT kind FROM conversations WHERE tenant_id = $1 AND id = $2',
    [tenant, id],
  );
  if (!rows[0]) throw new HeraldError('CONVERSATION_NOT_FOUND');
  return rows[0].kind;
}

export interface Page {
  after_seq?: number;
  before_seq?: number;
  limit: number;
}

/**
 * The main timeline by keyset on seq, never OFFSET: thread replies are not in it (their
 * roots carry reply_count; threads.ts lists a thread). No bound: the newest page. Pages
 * come back in ascending seq; `has_more` says whether more lie beyond the
 * page in the direction of travel (older for before/newest, newer for after).
 */
export async function listMessages(
  sql: Sql,
  tenant: string,
  conversation: string,
  page: Page,
): Promise<{ messages: Message[]; has_more: boolean }> {
  const limit = Math.min(page.limit, MAX_PAGE);
  const ascending = page.after_seq !== undefined;
  const { rows } = await sql.query(
    `SELECT * FROM messages
      WHERE tenant_id = $1 AND conversation_id = $2 AND thread_root IS NULL
        AND ($3::bigint IS NULL OR seq > $3) AND ($4::bigint IS NULL OR seq < $4)
      ORDER BY seq ${ascending ? 'ASC' : 'DESC'} LIMIT $5`,
    [tenant, conversation, page.after_seq ?? null, page.before_seq ?? null, limit + 1],
  );
  const has_more = rows.length > limit;
  const messages = rows.slice(0, limit).map(toMessage);
  if (!ascending) messages.reverse();
  return { messages, has_more };
}

/**
 * The conversation log after `after_seq` (gap repair). Events of deleted
 * messages carry the message's current (erased) state, never the old body.
 */
export async function listEvents(
  sql: Sql,
  tenant: string,
  conversation: string,
  afterSeq: number,
  limit: number,
): Promise<{ events: { seq: number; event: ConversationEvent }[]; has_more: boolean }> {
  const n = Math.min(limit, MAX_PAGE);
  const { rows } = await sql.query<{ seq: number; payload: ConversationEvent; current: Row | null }>(
    `SELECT ev.seq, ev.payload,
            CASE WHEN m.deleted_at IS NOT NULL THEN to_jsonb(m) END AS current
       FROM events ev
       LEFT JOIN messages m ON m.tenant_id = ev.tenant_id AND m.id = ev.message_id
      WHERE ev.tenant_id = $1 AND ev.conversation_id = $2 AND ev.seq > $3
      ORDER BY ev.seq LIMIT $4`,
    [tenant, conversation, afterSeq, n + 1],
  );
  const events = rows.slice(0, n).map((r) => {
    let event = r.payload;
    if (r.current && (event.type === 'message.created' || event.type === 'message.edited')) {
      // to_jsonb renders timestamps as text: revive them so the shape matches toMessage's.
      const cur = { ...r.current };
      for (const k of ['created_at', 'edited_at', 'deleted_at'])
        if (cur[k] != null) cur[k] = new Date(String(cur[k]));
      event = { ...event, message: toMessage(cur) };
    }
    return { seq: Number(r.seq), event };
  });
  return { events, has_more: rows.length > n };
}

export async function listMembers(
  sql: Sql,
  tenant: string,
  conversation: string,
  after: string | undefined,
  limit: number,
): Promise<{ members: Member[]; has_more: boolean }> {
  const n = Math.min(limit, 1000);
  const { rows } = await sql.query<{ user_id: string; role: Member['role']; joined_at: unknown }>(
    `SELECT user_id, role, joined_at FROM members
      WHERE tenant_id = $1 AND conversation_id = $2 AND ($3::text IS NULL OR user_id > $3)
      ORDER BY user_id LIMIT $4`,
    [tenant, conversation, after ?? null, n + 1],
  );
  return {
    members: rows.slice(0, n).map((r) => ({ user_id: r.user_id, role: r.role, joined_at: iso(r.joined_at) })),
    has_more: rows.length > n,
  };
}
