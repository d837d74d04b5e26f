// `herald reconcile`'s statements for PostgreSQL and PGlite (the domain's EntryCounters,
// src/domain/reconcile-store.ts), with the counter rule as SQL over `e` (the entry) and `c`
// (its conversation).
import type { Sql } from '../../domain/ports.ts';
import { COUNT_CAP } from '../../domain/read-marker.ts';
import type {
  DriftedEntry,
  EntryCounters,
  EntryKey,
  EntryPage,
  ReconcileStore,
} from '../../domain/reconcile-store.ts';
import { inboxEntryJson, insertInboxFrames, recountSql } from './sql.ts';

/**
 * The counter rule's SQL form, over inbox entry `e` and its conversation `c`: what each derived
 * column should hold, and whether the stored row differs. The check and the repair must each
 * be one statement (one snapshot; the repair's WHERE re-checked on a row a mark-read changed),
 * so the rule goes into them as SQL, written once (`counterRule`), from what
 * src/domain/reconcile.ts says is derived.
 */
interface CounterRule {
  read: string;
  unread: string;
  mention: string;
  readDrift: string;
  unreadDrift: string;
  mentionDrift: string;
}

/**
 * What each derived column should hold, and whether the stored row differs, as SQL over inbox
 * alias `e` and conversation alias `c` (the check and the repair each run it inside one
 * statement). Written once, used by the check and by the repair.
 */
function counterRule(largeThreshold: number): CounterRule {
  const large = `(c.kind = 'channel' AND c.member_count > ${Number(largeThreshold)})`;
  const read = 'LEAST(e.last_read_seq, c.last_seq)';
  const counts = recountSql({
    tenant: 'e.tenant_id',
    conversation: 'e.conversation_id',
    user: 'e.user_id',
    after: read,
  });
  const storedUnread = `LEAST(e.unread_count, ${COUNT_CAP})`;
  const storedMention = `LEAST(e.mention_count, ${COUNT_CAP})`;
  // A large channel's stored unread is not shown to anyone: expected is whatever is stored.
  const unread = `(CASE WHEN ${large} THEN ${storedUnread} ELSE ${counts.unread} END)`;
  const mention = counts.mention;
  return {
    read,
    unread,
    mention,
    readDrift: `e.last_read_seq <> ${read}`,
    unreadDrift: `${storedUnread} <> ${unread}`,
    mentionDrift: `${storedMention} <> ${mention}`,
  };
}

export class PgEntryCounters implements EntryCounters {
  constructor(private readonly sql: Sql) {}

  async tenantIds(): Promise<string[]> {
    const { rows } = await this.sql.query<{ id: string }>('SELECT id FROM tenants ORDER BY id');
    return rows.map((r) => r.id);
  }

  async knownTenants(ids: readonly string[]): Promise<Set<string>> {
    const { rows } = await this.sql.query<{ id: string }>(
      'SELECT id FROM tenants WHERE id = ANY($1::text[])',
      [ids],
    );
    return new Set(rows.map((r) => r.id));
  }

  async page(tenant: string, after: EntryKey, limit: number, largeThreshold: number): Promise<EntryPage> {
    const x = counterRule(largeThreshold);
    // Keyset over the primary key (tenant_id, user_id, conversation_id): an index range scan.
    const { rows } = await this.sql.query<{
      checked: number;
      last_user: string | null;
      last_conversation: string | null;
      drifted: DriftedEntry[];
    }>(
      `WITH page AS (
         SELECT e.* FROM inbox_entries e
          WHERE e.tenant_id = $1 AND (e.user_id, e.conversation_id) > ($2::text, $3::text)
          ORDER BY e.user_id, e.conversation_id LIMIT $4),
       want AS (
         SELECT e.user_id, e.conversation_id, e.last_read_seq, e.unread_count, e.mention_count,
                ${x.read} AS want_read,
                CASE WHEN ${x.unreadDrift} THEN ${x.unread} ELSE e.unread_count END AS want_unread,
                CASE WHEN ${x.mentionDrift} THEN ${x.mention} ELSE e.mention_count END AS want_mention,
                (${x.readDrift}) OR (${x.unreadDrift}) OR (${x.mentionDrift}) AS drift
           FROM page e JOIN conversations c ON c.tenant_id = e.tenant_id AND c.id = e.conversation_id)
       SELECT (SELECT count(*) FROM page)::int AS checked,
              l.user_id AS last_user, l.conversation_id AS last_conversation,
              COALESCE((SELECT jsonb_agg(jsonb_build_object(
                  'user_id', w.user_id, 'conversation_id', w.conversation_id,
                  'stored', jsonb_build_object('last_read_seq', w.last_read_seq,
                            'unread_count', w.unread_count, 'mention_count', w.mention_count),
                  'recounted', jsonb_build_object('last_read_seq', w.want_read,
                            'unread_count', w.want_unread, 'mention_count', w.want_mention))
                  ORDER BY w.user_id, w.conversation_id)
                FROM want w WHERE w.drift), '[]'::jsonb) AS drifted
         FROM (SELECT 1) one
         LEFT JOIN LATERAL (SELECT user_id, conversation_id FROM page
                             ORDER BY user_id DESC, conversation_id DESC LIMIT 1) l ON true`,
      [tenant, after.user_id, after.conversation_id, limit],
    );
    const r = rows[0];
    const last =
      r.last_user === null || r.last_conversation === null
        ? null
        : { user_id: r.last_user, conversation_id: r.last_conversation };
    return { checked: r.checked, last, drifted: r.drifted };
  }

  async lockConversations(tenant: string, ids: readonly string[]): Promise<void> {
    await this.sql.query(
      `SELECT id FROM conversations WHERE tenant_id = $1 AND id = ANY($2::text[]) ORDER BY id FOR UPDATE`,
      [tenant, ids],
    );
  }

  async rewrite(
    tenant: string,
    entries: readonly EntryKey[],
    o: { largeChannelThreshold: number; traceId?: string },
  ): Promise<number> {
    const x = counterRule(o.largeChannelThreshold);
    const { rows } = await this.sql.query<{ fixed: number }>(
      `WITH k AS (SELECT * FROM unnest($2::text[], $3::text[]) AS k(user_id, conversation_id)),
       up AS (
         UPDATE inbox_entries e SET
           last_read_seq = ${x.read},
           unread_count = CASE WHEN ${x.unreadDrift} THEN ${x.unread} ELSE e.unread_count END,
           mention_count = CASE WHEN ${x.mentionDrift} THEN ${x.mention} ELSE e.mention_count END,
           version = nextval('inbox_version')
           FROM k, conversations c
          WHERE e.tenant_id = $1 AND e.user_id = k.user_id AND e.conversation_id = k.conversation_id
            AND c.tenant_id = $1 AND c.id = e.conversation_id
            AND ((${x.readDrift}) OR (${x.unreadDrift}) OR (${x.mentionDrift}))
         RETURNING e.*),
       frames AS (
         ${insertInboxFrames({
           tenant: '$1',
           from: 'up e JOIN conversations c ON c.tenant_id = $1 AND c.id = e.conversation_id',
           entry: inboxEntryJson(o.largeChannelThreshold),
           trace: '$4',
         })})
       SELECT count(*)::int AS fixed FROM up`,
      [tenant, entries.map((d) => d.user_id), entries.map((d) => d.conversation_id), o.traceId ?? null],
    );
    return rows[0].fixed;
  }
}

export const pgReconcile: ReconcileStore = (sql: Sql) => new PgEntryCounters(sql);
