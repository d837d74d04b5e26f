// The loop shape every host-level worker shares (the outbox relay, the webhook
// dispatcher): woken by a LISTEN channel, with a polling fallback; one drain at
// a time, and a wake during a drain runs it once more after; a failed drain is
// reported, never thrown, and backs the poll off so an outage is not hammered.
import type { Db } from './db.ts';

const MAX_BACKOFF_MS = 5_000;

export interface DrainLoopOptions {
  db: Db;
  /** The NOTIFY channel that says there is work. */
  channel: string;
  pollMs: number;
  drain: () => Promise<unknown>;
  onError: (err: unknown) => void;
}

export class DrainLoop {
  private timer: NodeJS.Timeout | null = null;
  private unlisten: (() => Promise<void>) | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private failures = 0;
  /** True between stop() and the next start(): drains check it to end early. */
  stopped = true;

  constructor(private readonly opts: DrainLoopOptions) {}

  async start(): Promise<void> {
    this.stopped = false;
    try {
      this.unlisten = await this.opts.db.listen(this.opts.channel, () => this.wake());
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
          await this.opts.drain();
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

  /** pollMs, doubling per failed drain up to MAX_BACKOFF_MS. */
  private pollDelay(): number {
    const { pollMs } = this.opts;
    if (this.failures === 0) return pollMs;
    return Math.min(pollMs * 2 ** Math.min(this.failures, 16), Math.max(pollMs, MAX_BACKOFF_MS));
  }

  /** Stops waking and waits for the drain in progress. `beforeWait` runs in between (abort work). */
  async stop(beforeWait?: () => void): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    beforeWait?.();
    await this.unlisten?.();
    this.unlisten = null;
    await this.running;
  }
}
