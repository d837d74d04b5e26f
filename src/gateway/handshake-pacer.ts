// Handshakes in slices, so a reconnect storm cannot hold the event loop.
//
// When 10,000 clients come back at once, libuv hands the node thousands of ready upgrades in
// one poll phase, and each one's session start, subscribe and replay follow in the next. A
// loop turn can then last seconds (the bench saw a 50 ms timer starved for 3.4 s), and an HTTP
// send, which needs several turns (request, store round trip, reply), waits for each of them.
// With the sends on connections of their own, pacing halved their p99 during the storm
// (docs/benchmarks.md, session 5). The pacer queues upgrades and
// lets each turn start only as many as fit a time budget, which adapts to the length of the
// loop's turns: while turns take longer than the target the budget halves, while they are
// shorter it grows. The storm is served as fast as the loop allows; other work gets a turn
// every ~target ms instead of every few seconds. Handshakes keep their arrival order.

export interface PacerOptions {
  /** The loop turn length to hold (ms): above it, fewer handshakes per turn. */
  targetTurnMs: number;
  /** Synchronous handshake time per turn, bounds (ms); one handshake per turn at least. */
  minBudgetMs: number;
  maxBudgetMs: number;
}

export const defaultPacerOptions: PacerOptions = { targetTurnMs: 20, minBudgetMs: 1, maxBudgetMs: 20 };

export class HandshakePacer {
  private queue: (() => void)[] = [];
  private head = 0;
  private budgetMs: number;
  private armed = false;
  /** When the previous turn ran; null when the queue was empty (the next turn starts fresh). */
  private lastTurn: number | null = null;
  private readonly onTurn = () => this.turn();

  constructor(
    private readonly opts: PacerOptions = defaultPacerOptions,
    private readonly clock: () => number = () => performance.now(),
    private readonly later: (fn: () => void) => void = setImmediate,
  ) {
    this.budgetMs = opts.maxBudgetMs;
  }

  /** Handshakes waiting for a turn. */
  get waiting(): number {
    return this.queue.length - this.head;
  }

  /** Runs `start` in a later turn, after every handshake queued before it. */
  admit(start: () => void): void {
    this.queue.push(start);
    if (!this.armed) {
      this.armed = true;
      this.later(this.onTurn);
    }
  }

  private turn(): void {
    this.armed = false;
    const begin = this.clock();
    if (this.lastTurn !== null) {
      const gap = begin - this.lastTurn;
      const { minBudgetMs, maxBudgetMs, targetTurnMs } = this.opts;
      this.budgetMs =
        gap > targetTurnMs
          ? Math.max(minBudgetMs, this.budgetMs / 2)
          : Math.min(maxBudgetMs, this.budgetMs * 1.5);
    }
    do {
      const start = this.queue[this.head];
      this.queue[this.head++] = noop; // not kept alive by the queue
      start();
    } while (this.head < this.queue.length && this.clock() - begin < this.budgetMs);
    if (this.head < this.queue.length) {
      this.lastTurn = begin;
      this.armed = true;
      this.later(this.onTurn);
      // Compact now and then: the queue holds a storm, not a history.
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      return;
    }
    // Drained: the next storm starts at the full budget, and adapts from its first turn.
    this.queue = [];
    this.head = 0;
    this.lastTurn = null;
    this.budgetMs = this.opts.maxBudgetMs;
  }
}

const noop = () => {};
