// A thread's reads: its root, its replies by keyset on seq, a user's thread entries. Whether
// the reader may see the conversation is decided before (domain/threads.ts).
import type { Sql } from '../../domain/ports.ts';
import { MAX_PAGE, type Page, type ThreadReader } from '../../domain/read-ports.ts';
import type { Message, ThreadEntry } from '../../protocol/index.ts';
import { toMessage } from './rows.ts';
import { THREAD_ENTRY_JSON } from './sql.ts';

export class PgThreadReader implements ThreadReader {
  constructor(private readonly sql: Sql) {}

  async root(tenant: string, conversation: string, id: string): Promise<Message | null> {
    const { rows } = await this.sql.query(
      `SELECT r.* FROM messages m
       JOIN messages r ON r.tenant_id = m.tenant_id AND r.id = COALESCE(m.thread_root, m.id)
      WHERE m.tenant_id = $1 AND m.conversation_id = $2 AND m.id = $3`,
      [tenant, conversation, id],
    );
    return rows[0] ? toMessage(rows[0]) : null;
  }

  async replies(tenant: string, rootId: string, page: Page) {
    const limit = Math.min(page.limit, MAX_PAGE);
    const ascending = page.after_seq !== undefined;
    const { rows } = await this.sql.query(
      `SELECT * FROM messages
      WHERE tenant_id = $1 AND thread_root = $2
        AND ($3::bigint IS NULL OR seq > $3) AND ($4::bigint IS NULL OR seq < $4)
      ORDER BY seq ${ascending ? 'ASC' : 'DESC'} LIMIT $5`,
      [tenant, rootId, page.after_seq ?? null, page.before_seq ?? null, limit + 1],
    );
    const messages = rows.slice(0, limit).map(toMessage);
    if (!ascending) messages.reverse();
    return { messages, has_more: rows.length > limit };
  }

  async entries(
    tenant: string,
    user: string,
    conversation: string,
    limit: number,
    rootId?: string,
  ): Promise<ThreadEntry[]> {
    const { rows } = await this.sql.query<{ entry: ThreadEntry }>(
      `SELECT ${THREAD_ENTRY_JSON} AS entry FROM thread_entries t
       JOIN messages r ON r.tenant_id = t.tenant_id AND r.id = t.root_id
      WHERE t.tenant_id = $1 AND t.user_id = $2 AND t.conversation_id = $3
        AND ($5::text IS NULL OR t.root_id = $5)
      ORDER BY r.last_reply_at DESC NULLS LAST, t.root_id LIMIT $4`,
      [tenant, user, conversation, Math.min(limit, MAX_PAGE), rootId ?? null],
    );
    return rows.map((r) => r.entry);
  }
}
