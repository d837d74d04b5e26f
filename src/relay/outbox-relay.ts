// The outbox relay: publishes committed outbox rows to the bus, in id order
// per partition, then marks them published. Host-level: started with the
// process, woken by LISTEN/NOTIFY with a polling fallback, resumes from
// whatever is committed and unpublished. At-least-once: a crash between
// publish and mark republishes, and clients drop seqs they already have.
//
// Several relays (nodes) may run: each partition is owned for the length of
// one transaction by `pg_try_advisory_xact_lock`, so two relays never publish
// the same partition — and hence the same topic — concurrently or out of order.
import type { Bus } from '../bus/port.ts';
import type { Db } from '../store/db.ts';

export interface RelayOptions {
  db: Db;
  bus: Bus;
  /** Polling fallback when no NOTIFY arrives (ms). */
  pollMs?: number;
  /** Rows per partition per transaction. */
  batchSize?: number;
  /** Published rows older than this are deleted (ms). */
  retainMs?: number;
  onError?: (err: unknown) => void;
  /** Called after each published row (metrics). */
  onPublished?: (row: { id: number; topic: string; created_at: Date }) => void;
}

const LOCK_CLASS = 7261002;
/** Longest pause between drains while they keep failing (store or bus down). */
const MAX_BACKOFF_MS = 5_000;

export class OutboxRelay {
  private readonly opts: Required<Omit<RelayOptions, 'onPublished'>> & Pick<RelayOptions, 'onPublished'>;
  private timer: NodeJS.Timeout | null = null;
  private unlisten: (() => Promise<void>) | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = true;
  private lastPrune = 0;
  /** Drains failed in a row: the poll backs off while the store or the bus is away. */
  private failures = 0;

  constructor(opts: RelayOptions) {
    this.opts = { pollMs: 1000, batchSize: 500, retainMs: 3_600_000, onError: () => {}, ...opts };
  }

  async start(): Promise<void> {
    this.stopped = false;
    try {
      this.unlisten = await this.opts.db.listen('herald_outbox', () => this.wake());
    } catch (err) {
      this.opts.onError(err); // Polling still covers us.
    }
    const tick = () => {
      this.wake();
      this.timer = setTimeout(tick, this.pollDelay());
      this.timer.unref();
    };
    tick();
  }

  /** Runs a drain now, or once more after the current one. */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.drain();
          this.failures = 0;
        } catch (err) {
          this.failures++;
          // No retry here: the next try is the backed-off poll, or a wake meanwhile (a NOTIFY
          // once LISTEN is back) — which `again` keeps, so the loop runs once more for it.
          this.opts.onError(err);
        }
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.running = null;
    });
  }

  /** pollMs, doubling per failed drain up to MAX_BACKOFF_MS: an outage is not hammered. */
  private pollDelay(): number {
    const { pollMs } = this.opts;
    if (this.failures === 0) return pollMs;
    return Math.min(pollMs * 2 ** Math.min(this.failures, 16), Math.max(pollMs, MAX_BACKOFF_MS));
  }

  /**
   * Publishes everything pending now. Returns the number of rows published; after trying
   * every partition, throws the first failure (the failed partition's rows stay pending).
   */
  async drain(): Promise<number> {
    const { db } = this.opts;
    const { rows } = await db.query<{ partition: number }>(
      'SELECT DISTINCT partition FROM outbox WHERE published_at IS NULL',
    );
    let total = 0;
    let failure: { err: unknown } | null = null;
    for (const { partition } of rows) {
      // A failing partition (bus error on one of its topics) must not hold back the other
      // partitions: its batch stays pending and is retried; the others are published now.
      try {
        for (;;) {
          const n = await this.drainPartition(partition);
          total += n;
          if (n < this.opts.batchSize) break;
        }
      } catch (err) {
        failure ??= { err };
      }
    }
    if (Date.now() - this.lastPrune > 60_000) {
      this.lastPrune = Date.now();
      await db.query(`DELETE FROM outbox WHERE published_at < now() - ($1::int * interval '1 millisecond')`, [
        this.opts.retainMs,
      ]);
    }
    if (failure) throw failure.err;
    return total;
  }

  private async drainPartition(partition: number): Promise<number> {
    const { db, bus } = this.opts;
    return db.transaction(async (tx) => {
      const { rows: lock } = await tx.query<{ ok: boolean }>(
        'SELECT pg_try_advisory_xact_lock($1, $2) AS ok',
        [LOCK_CLASS, partition],
      );
      if (!lock[0].ok) return 0; // Another relay owns this partition right now.
      const { rows } = await tx.query<{ id: number; topic: string; payload: string; created_at: Date }>(
        `SELECT id, topic, payload::text AS payload, created_at FROM outbox
          WHERE partition = $1 AND published_at IS NULL ORDER BY id LIMIT $2`,
        [partition, this.opts.batchSize],
      );
      if (rows.length === 0) return 0;
      // Publish strictly in order; a failure aborts the batch and nothing is marked.
      for (const row of rows) {
        await bus.publish(row.topic, row.payload);
        this.opts.onPublished?.(row);
      }
      await tx.query('UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])', [
        rows.map((r) => r.id),
      ]);
      return rows.length;
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.unlisten?.();
    this.unlisten = null;
    await this.running;
  }
}
