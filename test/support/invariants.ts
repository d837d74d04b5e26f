// What must hold after any fault (docs/reliability.md, "Faults"): every
// acknowledged send committed exactly once, the log gapless, and the stored
// unread/mention counters equal to a recount from the log. Each check is one
// SQL query against the store, so it judges what is durable, not what a
// node believes.
import type { Row } from '../../src/store/db.ts';

/** Anything that can run a query: a Db, a pg.Client wrapper. */
export interface Queryable {
  query<T extends Row>(text: string, params?: unknown[]): Promise<{ rows: T[] }>;
}

/**
 * The recount: for every inbox entry of the tenant whose counters are stored (all but large
 * channels, whose unread is derived from seqs), the unread and mention counts the log implies
 * — messages after the read marker, not deleted, not the reader's own, not thread replies
 * (system messages never count as unread) — capped like the stored counters.
 */
// Stored counters count on past the display cap (a send adds 1, a read recounts capped at 999),
// so both sides are compared capped, as `herald reconcile` does (src/domain/reconcile.ts).
export const RECOUNT_SQL = `
  SELECT e.user_id, e.conversation_id,
         LEAST(e.unread_count, 999)::int AS unread_count, LEAST(e.mention_count, 999)::int AS mention_count,
         LEAST((SELECT count(*) FROM messages m
                 WHERE m.tenant_id = e.tenant_id AND m.conversation_id = e.conversation_id
                   AND m.seq > e.last_read_seq AND m.kind <> 'system' AND m.deleted_at IS NULL
                   AND m.thread_root IS NULL
                   AND m.sender_id IS DISTINCT FROM e.user_id), 999)::int AS unread_recount,
         LEAST((SELECT count(*) FROM messages m
                 WHERE m.tenant_id = e.tenant_id AND m.conversation_id = e.conversation_id
                   AND m.seq > e.last_read_seq AND e.user_id = ANY(m.mentions)
                   AND m.deleted_at IS NULL AND m.thread_root IS NULL), 999)::int AS mention_recount
    FROM inbox_entries e
    JOIN conversations c ON c.tenant_id = e.tenant_id AND c.id = e.conversation_id
   WHERE e.tenant_id = $1 AND NOT (c.kind = 'channel' AND c.member_count > $2)`;

export interface CounterDrift {
  user_id: string;
  conversation_id: string;
  unread_count: number;
  unread_recount: number;
  mention_count: number;
  mention_recount: number;
}

/** Inbox entries whose stored counters differ from the recount (empty when all agree). */
export async function counterDrift(
  db: Queryable,
  tenant: string,
  largeChannelThreshold = 1000,
): Promise<CounterDrift[]> {
  const { rows } = await db.query<CounterDrift & Row>(RECOUNT_SQL, [tenant, largeChannelThreshold]);
  return rows.filter((r) => r.unread_count !== r.unread_recount || r.mention_count !== r.mention_recount);
}

/** How many inbox entries the recount looked at (so a test can tell "no drift" from "no rows"). */
export async function recountedEntries(db: Queryable, tenant: string, largeChannelThreshold = 1000) {
  const { rows } = await db.query(RECOUNT_SQL, [tenant, largeChannelThreshold]);
  return rows.length;
}

/**
 * Every acknowledged send (client_id → acknowledged seq) is in the log exactly once, at the seq
 * it was acknowledged with; the conversation's events are gapless 1..last_seq. Returns the
 * conversation's head.
 */
export async function assertCommittedOnce(
  db: Queryable,
  tenant: string,
  conversation: string,
  acked: ReadonlyMap<string, number>,
): Promise<number> {
  const { rows } = await db.query<{ client_id: string; n: number; seq: number }>(
    `SELECT client_id, count(*)::int AS n, min(seq) AS seq FROM messages
      WHERE tenant_id = $1 AND conversation_id = $2 AND client_id = ANY($3::text[]) GROUP BY client_id`,
    [tenant, conversation, [...acked.keys()]],
  );
  const found = new Map(rows.map((r) => [r.client_id, r]));
  const problems: string[] = [];
  for (const [clientId, seq] of acked) {
    const r = found.get(clientId);
    if (!r) problems.push(`${clientId}: acknowledged at seq ${seq} but not committed`);
    else if (r.n !== 1) problems.push(`${clientId}: committed ${r.n} times`);
    else if (Number(r.seq) !== seq)
      problems.push(`${clientId}: acknowledged seq ${seq}, committed at ${r.seq}`);
  }
  const { rows: log } = await db.query<{ last_seq: number; events: number; max: number | null }>(
    `SELECT c.last_seq, count(e.seq)::int AS events, max(e.seq) AS max
       FROM conversations c LEFT JOIN events e ON e.tenant_id = c.tenant_id AND e.conversation_id = c.id
      WHERE c.tenant_id = $1 AND c.id = $2 GROUP BY c.last_seq`,
    [tenant, conversation],
  );
  // seqs are bigint: a plain pg client returns them as strings.
  const head = Number(log[0]?.last_seq ?? 0);
  if (log[0] && (log[0].events !== head || Number(log[0].max ?? 0) !== head))
    problems.push(`log of ${conversation} is not gapless: ${log[0].events} events, head ${head}`);
  if (problems.length) throw new Error(`committed-once check failed:\n${problems.join('\n')}`);
  return head;
}
