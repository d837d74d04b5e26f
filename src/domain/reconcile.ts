// `herald reconcile`: recounts what inbox entries derive from the committed log — the read
// marker, unread and mention counts — reports entries whose stored values drifted, and with
// `fix` repairs them in bulk, each with a new version and an `inbox` frame so connected clients
// correct the badge. Work goes page by page (keyset over the entries' primary key), one short
// transaction per page, so a big tenant never holds one huge transaction. This module decides
// what a page is, what the report holds and when and how a repair runs; the statements are the
// store's (`ReconcileDeps.counters`, src/domain/reconcile-store.ts), and so is the counter rule's
// SQL form (src/store/pg/reconcile.ts), which implements the list below.
//
// What is derived, and so checked (src/store/migrations, src/store/pg/sql.ts):
// - `last_read_seq` never exceeds the conversation head (mark-read and fan-out cannot move it
//   past `last_seq`; a marker beyond it would hide every later message). Clamped to the head.
// - `unread_count`, `mention_count`: recountSql (src/store/pg/sql.ts) from the read marker, capped like every recount
//   (a stored count above the cap equals a capped recount of at least the cap: "999+" both).
// - Large channels keep no unread counter — the read path derives it from seqs (herald_inbox_entry) — so
//   their stored `unread_count` is not compared; their mention counts are.
// - Notice entries store flags only (read, archived, …), no counter: nothing to recount.
import { HeraldError } from '../protocol/index.ts';
import type { Limits } from './limits.ts';
import type { Transactor } from './ports.ts';
import type { DriftedEntry, EntryKey, ReconcileStore } from './reconcile-store.ts';

export type { DriftedEntry, EntryCounts } from './reconcile-store.ts';

export interface ReconcileDeps {
  db: Transactor;
  /** The store's reconcile statements (src/store/pg/reconcile.ts): `counters(db)`, `counters(tx)`. */
  counters: ReconcileStore;
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

/** Reconciles each tenant in turn; unknown tenants are TENANT_NOT_FOUND before any work. */
export async function reconcile(
  deps: ReconcileDeps,
  tenants: string[] | 'all',
  opts: ReconcileOptions,
): Promise<TenantReport[]> {
  const counters = deps.counters(deps.db);
  let ids: string[];
  if (tenants === 'all') {
    ids = await counters.tenantIds();
  } else {
    ids = [...new Set(tenants)];
    const known = await counters.knownTenants(ids);
    const missing = ids.filter((t) => !known.has(t));
    if (missing.length > 0)
      throw new HeraldError('TENANT_NOT_FOUND', `No such tenant: ${missing.join(', ')}.`);
  }
  const reports: TenantReport[] = [];
  for (const tenant of ids) reports.push(await reconcileTenant(deps, tenant, opts));
  return reports;
}

export async function reconcileTenant(
  deps: ReconcileDeps,
  tenant: string,
  opts: ReconcileOptions,
): Promise<TenantReport> {
  const batch = opts.batchSize ?? DEFAULT_BATCH;
  const sampleSize = opts.sampleSize ?? DEFAULT_SAMPLE;
  const threshold = deps.limits.largeChannelThreshold;
  const counters = deps.counters(deps.db);
  const report: TenantReport = { tenant, checked: 0, drifted: 0, fixed: 0, sample: [] };
  // Keyset over the entries' primary key (user, conversation within the tenant): pages stay
  // stable while sends add entries elsewhere.
  let after: EntryKey = { user_id: '', conversation_id: '' };
  for (;;) {
    // One statement: stored values and the log come from one snapshot, so a committed send is
    // either in both or in neither — the check itself needs no lock and blocks nobody.
    const page = await counters.page(tenant, after, batch, threshold);
    if (page.checked === 0 || page.last === null) break;
    report.checked += page.checked;
    report.drifted += page.drifted.length;
    for (const d of page.drifted) if (report.sample.length < sampleSize) report.sample.push(d);
    if (opts.fix && page.drifted.length > 0) {
      report.fixed += await repair(deps, tenant, page.drifted, opts.traceId);
    }
    after = page.last;
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
  traceId: string | undefined,
): Promise<number> {
  const conversations = [...new Set(drifted.map((d) => d.conversation_id))].sort();
  return deps.db.transaction(async (tx) => {
    const counters = deps.counters(tx);
    await counters.lockConversations(tenant, conversations);
    return counters.rewrite(tenant, drifted, {
      largeChannelThreshold: deps.limits.largeChannelThreshold,
      traceId,
    });
  });
}
