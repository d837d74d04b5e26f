// Writes what waits for the socket at the pace `welcome.limits` allows. Lanes
// go in order (subscribes, the view, reads, then sends in the order they were
// made); when the pacer says wait, the whole flush stops and goes again when
// the buckets refill, so nothing overtakes what is queued before it.
import type { ClientFrame } from '../protocol/frames.ts';
import type { NamedTimers } from './named-timers.ts';
import type { Pacer } from './pacer.ts';

export interface FlushContext {
  readonly now: number;
  /** False when the pacer says wait (the flush is rescheduled): the lane must stop at once. */
  mayWrite(send: boolean): boolean;
  write(frame: ClientFrame): boolean;
  /** A send was written (the send bucket pays for it). */
  sendWritten(): void;
  /** Something in a lane may go in this many ms (a retry delay): flush again then. */
  later(ms: number): void;
}

/** One kind of queued frame. drain() returns false to end the flush here (nothing after it goes). */
export interface FlushLane {
  drain(ctx: FlushContext): boolean;
}

export interface PacedFlushDeps {
  timers: NamedTimers;
  pacer: Pacer;
  writable(): boolean;
  write(frame: ClientFrame): boolean;
}

export class PacedFlush {
  private readonly lanes: FlushLane[] = [];

  constructor(private readonly deps: PacedFlushDeps) {}

  /** Lanes drain in the order they were added. */
  add(lane: FlushLane): void {
    this.lanes.push(lane);
  }

  run(): void {
    const { timers, pacer } = this.deps;
    timers.clear('flush');
    if (!this.deps.writable()) return;
    const now = timers.now();
    let wait = 0;
    const ctx: FlushContext = {
      now,
      mayWrite: (send) => {
        const w = pacer.waitMs(now, send);
        if (w <= 0) return true;
        this.runIn(w);
        return false;
      },
      write: (frame) => this.deps.write(frame),
      sendWritten: () => pacer.sendWritten(now),
      later: (ms) => {
        wait = wait === 0 ? ms : Math.min(wait, ms);
      },
    };
    for (const lane of this.lanes) if (!lane.drain(ctx)) return;
    if (wait > 0) this.runIn(wait);
  }

  /** Forgets a scheduled flush (the socket it was for is gone). */
  cancel(): void {
    this.deps.timers.clear('flush');
  }

  private runIn(ms: number): void {
    this.deps.timers.set('flush', ms, () => this.run());
  }
}
