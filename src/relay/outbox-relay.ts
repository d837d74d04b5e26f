// The outbox relay: publishes committed outbox rows to the bus, in id order
// per topic, then marks them published. Host-level: started with the
// process, woken by LISTEN/NOTIFY with a polling fallback, resumes from
// whatever is committed and unpublished. At-least-once: a crash between
// publish and mark republishes, and clients drop seqs they already have.
//
// Several relays (nodes) may run: each partition (a hash of the topic) is owned for
// the length of one transaction by `pg_try_advisory_xact_lock`, so two relays
// never publish the same partition — and hence the same topic — concurrently or
// out of order.
//
// One batch is one transaction of two statements, whatever the number of rows or
// partitions: lock every pending partition that is free and read their oldest rows (one
// call), publish them all in one pipelined round trip, mark them published. A 1,000-member
// group send is one batch, not 1,000 round trips. Its cost is bounded by the batch, not by
// the backlog, and its commit does not wait for an fsync (migration 009 says why that is safe).
import type { Bus } from '../bus/port.ts';
import type { Db, Sql } from '../store/db.ts';
import { DrainLoop } from '../store/drain-loop.ts';
import { noTracing, type Tracing } from '../tracing/tracer.ts';
import { stampRow } from './stamp.ts';

export interface RelayOptions {
  db: Db;
  bus: Bus;
  /** Polling fallback when no NOTIFY arrives (ms). */
  pollMs?: number;
  /** Rows per partition per transaction (a transaction carries up to 16 × this). */
  batchSize?: number;
  /** Published rows older than this are deleted (ms). */
  retainMs?: number;
  onError?: (err: unknown) => void;
  /** Called after each published row (metrics). */
  onPublished?: (row: { id: number; topic: string; created_at: Date; trace_id: string | null }) => void;
  /** Publish spans (OpenTelemetry export); default: none. */
  tracing?: Tracing;
}

const LOCK_CLASS = 7261002;
/** Longest pause between drains while they keep failing (store or bus down). */

interface OutboxRow extends Record<string, unknown> {
  id: number;
  topic: string;
  partition: number;
  payload: string;
  trace_id: string | null;
  created_at: Date;
}

// Locking and reading are one call of herald_relay_claim (migration 009): it locks the free
// partitions that have pending rows (16 index probes, not a scan of the backlog), then reads
// their oldest rows in a statement of its own — in READ COMMITTED that statement's snapshot is
// taken after the locks, so a previous owner's committed "published" marks are visible and
// its rows are not published a second time, out of order.
const CLAIM =
  'SELECT id, topic, part AS partition, payload, trace_id, created_at FROM herald_relay_claim($1, $2)';

export class OutboxRelay {
  private readonly opts: Required<Omit<RelayOptions, 'onPublished'>> & Pick<RelayOptions, 'onPublished'>;
  private readonly loop: DrainLoop;
  private lastPrune = 0;

  constructor(opts: RelayOptions) {
    this.opts = {
      pollMs: 1000,
      batchSize: 250,
      retainMs: 3_600_000,
      onError: () => {},
      tracing: noTracing,
      ...opts,
    };
    this.loop = new DrainLoop({
      db: this.opts.db,
      channel: 'herald_outbox',
      pollMs: this.opts.pollMs,
      drain: () => this.drain(),
      onError: this.opts.onError,
    });
  }

  /** Starts draining: woken by LISTEN/NOTIFY, with the polling fallback (backed off on failures). */
  start(): Promise<void> {
    return this.loop.start();
  }

  /** Runs a drain now, or once more after the current one. */
  wake(): void {
    this.loop.wake();
  }

  /**
   * Publishes everything pending now. Returns the number of rows published. A row the bus
   * refuses holds back the rest of its partition (so its topic is not reordered) but not the
   * other partitions; after the drain, the first such failure is thrown.
   */
  async drain(): Promise<number> {
    let total = 0;
    let failure: { err: unknown } | null = null;
    for (;;) {
      const batch = await this.opts.db.transaction((tx) => this.publishBatch(tx));
      total += batch.published;
      if (batch.failure) failure ??= { err: batch.failure };
      // Unless a partition filled its share, nothing more is pending that this relay may take;
      // a batch with failures stops too, so a refused topic is retried on the next wake, not in a loop.
      if (!batch.full || batch.failure) break;
    }
    if (Date.now() - this.lastPrune > 60_000) {
      this.lastPrune = Date.now();
      await this.opts.db.query(
        `DELETE FROM outbox WHERE published_at < now() - ($1::int * interval '1 millisecond')`,
        [this.opts.retainMs],
      );
    }
    if (failure) throw failure.err;
    return total;
  }

  private async publishBatch(tx: Sql): Promise<{ full: boolean; published: number; failure: Error | null }> {
    const { bus, batchSize } = this.opts;
    const { rows } = await tx.query<OutboxRow>(CLAIM, [LOCK_CLASS, batchSize], {
      name: 'herald_relay_claim',
    });
    if (rows.length === 0) return { full: false, published: 0, failure: null };
    // The claim returns each partition's rows in id order; across partitions, id order puts
    // the oldest send's frames first (a room event before the inbox frames riding with it).
    rows.sort((a, b) => a.id - b.id);
    const perPartition = new Map<number, number>();
    for (const r of rows) perPartition.set(r.partition, (perPartition.get(r.partition) ?? 0) + 1);
    const full = [...perPartition.values()].some((n) => n >= batchSize);
    const now = Date.now();
    const stamped = rows.map((r) => stampRow(r, this.opts.tracing, now));
    const results = await bus.publishMany(stamped.map((s) => s.message)).catch((err) => {
      for (const s of stamped) s.span?.end(undefined, true);
      throw err;
    });
    for (let i = 0; i < stamped.length; i++) stamped[i].span?.end(undefined, results[i] !== null);
    // Mark each partition's rows up to its first refused one; what follows it in that
    // partition stays pending and goes out again, in order, with the refused row.
    const blocked = new Set<number>();
    const done: number[] = [];
    let failure: Error | null = null;
    rows.forEach((row, i) => {
      if (blocked.has(row.partition)) return;
      const err = results[i];
      if (err) {
        blocked.add(row.partition);
        failure ??= err;
        return;
      }
      done.push(row.id);
      this.opts.onPublished?.(row);
    });
    if (done.length > 0)
      await tx.query('UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])', [done], {
        name: 'herald_relay_mark',
      });
    return { full, published: done.length, failure };
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }
}
