// `herald reconcile`: recounts what inbox entries derive from the committed log — the read
// marker, unread and mention counts — reports entries whose stored values drifted, and with
// `fix` repairs them in bulk, each with a new version and an `inbox` frame so connected clients
// correct the badge. Work goes page by page (keyset over the entries' primary key), one short
// transaction per page, so a big tenant never holds one huge transaction.
//
// What is derived, and so checked (src/store/migrations, read-marker.ts, rows.ts):
// - `last_read_seq` never exceeds the conversation head (mark-read and fan-out cannot move it
//   past `last_seq`; a marker beyond it would hide every later message). Clamped to the head.
// - `unread_count`, `mention_count`: recountSql from the read marker, capped like every recount
//   (a stored count above the cap equals a capped recount of at least the cap: "999+" both).
// - Large channels keep no unread counter — the read path derives it from seqs (rows.ts) — so
//   their stored `unread_count` is not compared; their mention counts are.
// - Notice entries store flags only (read, archived, …), no counter: nothing to recount.
import { HeraldError } from '../protocol/index.ts';
import type { Limits } from './limits.ts';
import type { Sql, Transactor } from './ports.ts';
import { COUNT_CAP, recountSql } from './read-marker.ts';
import { inboxEntryJson, insertInboxFrames } from './rows.ts';

export interface ReconcileDeps {
  db: Transactor;
  limits: Pick<Limits, 'largeChannelThreshold'>;
}

export interface ReconcileOptions {
  /** Repair what drifted (otherwise only report it). */
  fix: boolean;
  /** Entries read per page, and at most fixed per transaction. */
  batchSize?: number;
  /** Drifted entries listed per tenant in the report. */
  sampleSize?: number;
  traceId?: string;
}

export interface EntryCounts {
  last_read_seq: number;
  unread_count: number;
  mention_count: number;
}

export interface DriftedEntry {
  user_id: string;
  conversation_id: string;
  stored: EntryCounts;
  /** What a repair writes: the recount where a value drifted, the stored value elsewhere. */
  recounted: EntryCounts;
}

export interface TenantReport {
  tenant: string;
  /** Entries looked at. */
  checked: number;
  /** Entries whose stored values differed from the recount when read. */
  drifted: number;
  /** Entries rewritten (≤ drifted: a concurrent mark-read may have corrected one first). */
  fixed: number;
  /** The first drifted entries, stored vs recounted. */
  sample: DriftedEntry[];
}

const DEFAULT_BATCH = 500;
const DEFAULT_SAMPLE = 20;

/**
 * SQL over inbox alias `e` and conversation alias `c`: what each derived column should hold,
 * and whether the stored row differs. Written once, used by the check and by the repair.
 */
function expected(largeThreshold: number) {
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

/** Every tenant's id, in order. */
export async function tenantIds(db: Sql): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>('SELECT id FROM tenants ORDER BY id');
  return rows.map((r) => r.id);
}

/** Reconciles each tenant in turn; unknown tenants are TENANT_NOT_FOUND before any work. */
export async function reconcile(
  deps: ReconcileDeps,
  tenants: string[] | 'all',
  opts: ReconcileOptions,
): Promise<TenantReport[]> {
  let ids: string[];
  if (tenants === 'all') {
    ids = await tenantIds(deps.db);
  } else {
    ids = [...new Set(tenants)];
    const { rows } = await deps.db.query<{ id: string }>(
      'SELECT id FROM tenants WHERE id = ANY($1::text[])',
      [ids],
    );
    const known = new Set(rows.map((r) => r.id));
    const missing = ids.filter((t) => !known.has(t));
    if (missing.length > 0)
      throw new HeraldError('TENANT_NOT_FOUND', `No such tenant: ${missing.join(', ')}.`);
  }
  const reports: TenantReport[] = [];
  for (const tenant of ids) reports.push(await reconcileTenant(deps, tenant, opts));
  return reports;
}

interface PageResult {
  checked: number;
  last_user: string | null;
  last_conversation: string | null;
  drifted: DriftedEntry[];
}

export async function reconcileTenant(
  deps: ReconcileDeps,
  tenant: string,
  opts: ReconcileOptions,
): Promise<TenantReport> {
  const batch = opts.batchSize ?? DEFAULT_BATCH;
  const sampleSize = opts.sampleSize ?? DEFAULT_SAMPLE;
  const x = expected(deps.limits.largeChannelThreshold);
  const report: TenantReport = { tenant, checked: 0, drifted: 0, fixed: 0, sample: [] };
  // Keyset over the primary key (tenant_id, user_id, conversation_id): each page is an index
  // range scan, and pages stay stable while sends add entries elsewhere.
  let after: [string, string] = ['', ''];
  for (;;) {
    // One statement: stored values and the log come from one snapshot, so a committed send is
    // either in both or in neither — the check itself needs no lock and blocks nobody.
    const { rows } = await deps.db.query<PageResult & Record<string, unknown>>(
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
      [tenant, after[0], after[1], batch],
    );
    const page = rows[0];
    if (page.checked === 0 || page.last_user === null || page.last_conversation === null) break;
    report.checked += page.checked;
    report.drifted += page.drifted.length;
    for (const d of page.drifted) if (report.sample.length < sampleSize) report.sample.push(d);
    if (opts.fix && page.drifted.length > 0) {
      report.fixed += await repair(deps, tenant, page.drifted, x, opts.traceId);
    }
    after = [page.last_user, page.last_conversation];
    if (page.checked < batch) break;
    // PGlite answers through microtasks only: let timers and sockets run between pages.
    await new Promise((r) => setImmediate(r));
  }
  return report;
}

/**
 * Rewrites the drifted entries of one page and writes their `inbox` frames, in one transaction.
 *
 * Races with sends: the transaction first locks the entries' conversation rows — the lock every
 * writer of messages and counters takes first (lockConversation: sends, edits, deletes, joins,
 * removals) — so while it is held the log cannot change, and the recount done under it is exact.
 * A send waits for this short transaction and then increments the corrected value; a send
 * already in flight makes the lock wait, and its commit is then seen by the recount. Mark-read
 * takes no conversation lock but recomputes its counts from the log itself; if one touches an
 * entry meanwhile, the UPDATE re-evaluates that row (READ COMMITTED re-check) with the new read
 * marker against the same, frozen log, and its WHERE skips rows that no longer differ. Locks are
 * taken in id order, and writers hold one conversation lock at a time, so no deadlock. The
 * alternative — an optimistic UPDATE guarded by the version read earlier — would block nothing,
 * but a row changed meanwhile stays wrong until another run; the lock makes one run enough.
 */
async function repair(
  deps: ReconcileDeps,
  tenant: string,
  drifted: DriftedEntry[],
  x: ReturnType<typeof expected>,
  traceId: string | undefined,
): Promise<number> {
  const conversations = [...new Set(drifted.map((d) => d.conversation_id))].sort();
  return deps.db.transaction(async (tx) => {
    await tx.query(
      `SELECT id FROM conversations WHERE tenant_id = $1 AND id = ANY($2::text[]) ORDER BY id FOR UPDATE`,
      [tenant, conversations],
    );
    const { rows } = await tx.query<{ fixed: number }>(
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
           entry: inboxEntryJson(deps.limits.largeChannelThreshold),
           trace: '$4',
         })})
       SELECT count(*)::int AS fixed FROM up`,
      [tenant, drifted.map((d) => d.user_id), drifted.map((d) => d.conversation_id), traceId ?? null],
    );
    return rows[0].fixed;
  });
}
