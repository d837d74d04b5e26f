// A conversation's reads (PostgreSQL and PGlite, one SQL): the reader's row, its kind, history,
// the event log, members. Every statement filters by tenant; whether the reader may see the
// conversation is the domain's call (access.ts), made on the row `seenBy` returns.
import type { Row, Sql } from '../../domain/ports.ts';
import {
  type ConversationReader,
  type ConversationSeen,
  MAX_MEMBER_PAGE,
  MAX_PAGE,
  type Page,
} from '../../domain/read-ports.ts';
import { iso } from '../../domain/rows.ts';
import type { Conversation, ConversationEvent, ConversationKind, Member } from '../../protocol/index.ts';
import { toMessage } from './rows.ts';

function toConversation(r: Row): Conversation {
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

export class PgConversationReader implements ConversationReader {
  constructor(private readonly sql: Sql) {}

  async seenBy(tenant: string, user: string, id: string): Promise<ConversationSeen | null> {
    const { rows } = await this.sql.query(
      `SELECT c.*, m.role FROM conversations c
       LEFT JOIN members m ON m.tenant_id = c.tenant_id AND m.conversation_id = c.id AND m.user_id = $3
      WHERE c.tenant_id = $1 AND c.id = $2`,
      [tenant, id, user],
    );
    const r = rows[0];
    if (!r) return null;
    return {
      conversation: toConversation(r),
      audience: r.audience as ConversationSeen['audience'],
      role: (r.role as ConversationSeen['role']) ?? null,
    };
  }

  async kind(tenant: string, id: string): Promise<ConversationKind | null> {
    const { rows } = await this.sql.query<{ kind: ConversationKind }>(
      'SELECT kind FROM conversations WHERE tenant_id = $1 AND id = $2',
      [tenant, id],
    );
    return rows[0]?.kind ?? null;
  }

  /** By keyset on seq, never OFFSET: thread replies are not in it (their roots carry reply_count). */
  async messages(tenant: string, conversation: string, page: Page) {
    const limit = Math.min(page.limit, MAX_PAGE);
    const ascending = page.after_seq !== undefined;
    const { rows } = await this.sql.query(
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

  async events(tenant: string, conversation: string, afterSeq: number, limit: number) {
    const n = Math.min(limit, MAX_PAGE);
    const { rows } = await this.sql.query<{ seq: number; payload: ConversationEvent; current: Row | null }>(
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

  async members(tenant: string, conversation: string, after: string | undefined, limit: number) {
    const n = Math.min(limit, MAX_MEMBER_PAGE);
    const { rows } = await this.sql.query<{ user_id: string; role: Member['role']; joined_at: unknown }>(
      `SELECT user_id, role, joined_at FROM members
      WHERE tenant_id = $1 AND conversation_id = $2 AND ($3::text IS NULL OR user_id > $3)
      ORDER BY user_id LIMIT $4`,
      [tenant, conversation, after ?? null, n + 1],
    );
    return {
      members: rows
        .slice(0, n)
        .map((r) => ({ user_id: r.user_id, role: r.role, joined_at: iso(r.joined_at) })),
      has_more: rows.length > n,
    };
  }
}
