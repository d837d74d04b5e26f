// The sync loop of one cursor-synced store (inbox, notices): pages until the
// server has nothing more, one run at a time, and after a connect retries in
// the background with backoff until it succeeds.
import { type HeraldClientError, toClientError } from './errors.ts';
import type { NamedTimers } from './named-timers.ts';

/** One fetched page: apply it (unless the sync went stale meanwhile), and whether to go on. */
export interface SyncStep {
  apply: () => void;
  more: boolean;
}

export interface CursorSyncDeps {
  timers: NamedTimers;
  retryDelay(failures: number): number;
  /** A background failure (reported only while the client is not stopped). */
  error(err: HeraldClientError): void;
  /** True once the client is disconnected: background retries end. */
  stopped(): boolean;
}

export class CursorSync {
  private running: Promise<void> | null = null;
  /** Asked again while a run was going. */
  private again = false;
  /** Consecutive failures of the background sync (its retry backoff). */
  private failures = 0;
  /** Bumped by suspend(): runs started before it stop paging. */
  private epoch = 0;

  constructor(
    /** Names the retry timer: `sync:<name>`. */
    private readonly name: string,
    private readonly fetchPage: () => Promise<SyncStep>,
    private readonly deps: CursorSyncDeps,
  ) {}

  /**
   * Pages the store until the server has nothing more. A request while one runs makes it go again
   * afterwards (it may have been answered before the latest changes), and shares its outcome. A
   * suspend() meanwhile stops the paging (the next connect asks again).
   */
  run(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    let ended = false;
    const run = (async () => {
      try {
        do {
          this.again = false;
          const epoch = this.epoch;
          for (;;) {
            const page = await this.fetchPage();
            if (epoch !== this.epoch) break; // stale: dropped (a newer request may go again)
            page.apply();
            if (!page.more) break;
          }
        } while (this.again);
      } finally {
        // Freed in the same step as the last look at `again`: a request from here on starts a
        // run of its own. (Freed a microtask later, a request in between joined a finished run.)
        ended = true;
        this.running = null;
      }
    })();
    if (!ended) this.running = run;
    return run;
  }

  /**
   * The sync after a connect, retried with backoff (full jitter, or the server's Retry-After if
   * longer) until it succeeds, the next connect starts a new one, or the client disconnects.
   */
  inBackground(): void {
    const timer = `sync:${this.name}`;
    this.deps.timers.clear(timer);
    const epoch = this.epoch;
    this.run().then(
      () => {
        if (epoch === this.epoch) this.failures = 0;
      },
      (err) => {
        if (epoch !== this.epoch || this.deps.stopped()) return;
        const e = toClientError(err, 'NETWORK_ERROR');
        this.deps.error(e);
        const delay = Math.max(e.retryAfterMs ?? 0, this.deps.retryDelay(this.failures++));
        this.deps.timers.set(timer, delay, () => this.inBackground());
      },
    );
  }

  /** The client disconnected: runs in progress stop at their next page. */
  suspend(): void {
    this.epoch++;
  }
}
