// Virtual time for everything the simulation drives: the SDK's timers (reconnect backoff,
// catch-up retries, the replay settle wait, the connect timeout) and the gateway's clock.
// Time moves only when the scheduler fires the next timer, never by itself.
import type { Timers } from '../../src/client/timers.ts';

interface Timer {
  id: number;
  at: number;
  fn: () => void;
}

/** A fixed epoch, so timestamps in ids and payloads never depend on when a seed runs. */
const EPOCH = Date.UTC(2026, 0, 1);

export class Clock implements Timers {
  private t = EPOCH;
  private nextId = 1;
  /** Ordered by (at, id): equal deadlines fire in the order they were set. */
  private timers: Timer[] = [];

  now = (): number => this.t;

  setTimeout = (fn: () => void, ms: number): unknown => {
    const timer = { id: this.nextId++, at: this.t + Math.max(0, ms), fn };
    let i = this.timers.length;
    while (i > 0 && this.timers[i - 1].at > timer.at) i--;
    this.timers.splice(i, 0, timer);
    return timer.id;
  };

  clearTimeout = (handle: unknown): void => {
    const i = this.timers.findIndex((t) => t.id === handle);
    if (i >= 0) this.timers.splice(i, 1);
  };

  /** Deadline of the next timer, or null. */
  nextAt(): number | null {
    return this.timers.length ? this.timers[0].at : null;
  }

  get pending(): number {
    return this.timers.length;
  }

  /** Moves time to the next deadline and fires that one timer. */
  fireNext(): void {
    const timer = this.timers.shift();
    if (!timer) return;
    this.t = Math.max(this.t, timer.at);
    timer.fn();
  }

  /** Drops every timer (end of a run). */
  clear(): void {
    this.timers = [];
  }
}
