// Delivery acks: the client tells the server what it has applied (`delivered {conversation,
// seq}`), so senders can see "delivered" before "read". Coalesced: per conversation only the
// highest applied seq, at most one frame per conversation per interval, nothing already
// acknowledged (by an earlier ack, or by the server's own receipt for this user). What could
// not be written while disconnected goes out after the next welcome.
import type { ClientFrame } from '../protocol/frames.ts';
import type { Timers } from './timers.ts';

export class DeliveryAcks {
  /** conversation → highest applied seq not yet written */
  private readonly pending = new Map<string, number>();
  /** conversation → highest seq the server knows we have (written, or its receipt said so) */
  private readonly acked = new Map<string, number>();
  private timer: unknown = null;

  constructor(
    private readonly timers: Timers,
    /** 0 (or less) turns acks off. */
    private readonly intervalMs: number,
    /** Writes the frame if the socket is welcomed and open; false leaves it pending. */
    private readonly write: (frame: ClientFrame) => boolean,
  ) {}

  /** An event was applied (live, replayed or fetched over HTTP). */
  applied(conversation: string, seq: number): void {
    if (this.intervalMs <= 0) return;
    if ((this.acked.get(conversation) ?? 0) >= seq || (this.pending.get(conversation) ?? 0) >= seq) return;
    this.pending.set(conversation, seq);
    this.schedule();
  }

  /** The server reports this user delivered (or read) up to seq: nothing below needs an ack. */
  known(conversation: string, seq: number): void {
    if ((this.acked.get(conversation) ?? 0) < seq) this.acked.set(conversation, seq);
    const p = this.pending.get(conversation);
    if (p !== undefined && p <= seq) this.pending.delete(conversation);
  }

  /** The socket was welcomed: write what waited. */
  resume(): void {
    if (this.pending.size > 0) this.schedule();
  }

  /** The socket is gone: no timer while disconnected; what waits stays for resume(). */
  pause(): void {
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
  }

  /** The conversation is no longer followed. */
  forget(conversation: string): void {
    this.pending.delete(conversation);
    this.acked.delete(conversation);
  }

  dispose(): void {
    this.pause();
    this.pending.clear();
  }

  private schedule(): void {
    if (this.timer !== null) return;
    this.timer = this.timers.setTimeout(() => this.flush(), this.intervalMs);
  }

  private flush(): void {
    this.timer = null;
    for (const [conversation, seq] of this.pending) {
      if (!this.write({ type: 'delivered', conversation, seq })) return; // not connected: resume() retries
      this.pending.delete(conversation);
      this.known(conversation, seq);
    }
  }
}
