// One connection's outgoing queue with backpressure, on top of its Sink (the transport's
// Writer: the buffered bytes are the queue). Knows nothing of sockets, rooms or the bus, so
// test/gateway/outbound.test.ts drives it with a fake sink.
//
// Over the soft mark typing is shed and presence/receipts/inbox hints coalesce per key (latest wins)
// until the queue drains below half the soft mark; over the hard mark the connection is cut
// with SLOW_CONSUMER — nothing is dropped silently, the client resumes by seq. Shared topic
// frames are written as the bytes the hub rendered once for every connection: nothing here
// parses, copies or allocates per frame on the way to the sink.
import { CLOSE, type PresenceEntry, type ServerFrame } from '../protocol/index.ts';
import type { MetricEvent, Priority } from './metrics.ts';
import type { Sink } from './ports.ts';
import type { TopicFrame } from './topic-hub.ts';

export interface OutboundLimits {
  readonly softMarkBytes: number;
  readonly hardMarkBytes: number;
  /** A paced replay whose reader does not drain within this long is a slow consumer. */
  readonly closeGraceMs: number;
}

export interface OutboundHooks {
  recordMetric(e: MetricEvent): void;
  /** The queue went over the soft mark: checkRecovered() must be called until it says so. */
  onDegraded(): void;
  /** The connection is being closed or cut: stop feeding the queue (drop subscriptions). */
  onClosing(): void;
}

const DEGRADED = JSON.stringify({ type: 'degraded', reason: 'backpressure' } satisfies ServerFrame);

/** Frames shed (typing) or coalesced (presence, receipts) while degraded. */
const sheddable = (p: Priority) => p !== 'message' && p !== 'inbox';

export class Outbound {
  private closed = false;
  private degraded = false;
  // What is held while degraded, allocated on first use: most connections never are.
  /** Receipts held while degraded, latest per reader. */
  private pendingReceipts: Map<string, TopicFrame> | null = null;
  /** Large-channel inbox hints held while degraded, latest per conversation. */
  private pendingHints: Map<string, TopicFrame> | null = null;
  /** Presence held while degraded: room ('' for the personal room) → device → latest entry. */
  private pendingPresence: Map<string, Map<string, PresenceEntry>> | null = null;

  constructor(
    readonly sink: Sink,
    private readonly limits: OutboundLimits,
    private readonly hooks: OutboundHooks,
  ) {}

  /** Closed or cut: nothing more is written. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Sends a frame built for this connection alone (acks, errors, control). */
  send(frame: ServerFrame, priority: Priority = 'message'): void {
    if (this.closed) return;
    const text = JSON.stringify(frame);
    if (!this.admit(text.length)) return;
    if (this.degraded && sheddable(priority)) {
      if (frame.type === 'presence') {
        this.coalescePresence(frame.conversation, frame.entries);
        this.hooks.recordMetric({ name: 'frame_coalesced', priority });
      } else this.hooks.recordMetric({ name: 'frame_dropped', priority });
      return;
    }
    this.sink.write(text, null, null);
  }

  /** A frame shared by every connection of a topic: its pre-rendered bytes are written as they are. */
  emit(f: TopicFrame, cursor: { conversation: string; seq: number } | null): void {
    if (this.closed || !this.admit(f.buf.length)) return;
    if (this.degraded && sheddable(f.priority)) {
      // Coalesced from the hub's parse of the frame: nothing is parsed per connection.
      let coalesced = true;
      if (f.type === 'receipt' && f.conversation !== null && f.userId !== null && f.seq !== null) {
        const key = `${f.conversation}\0${f.userId}`;
        this.pendingReceipts ??= new Map();
        const prev = this.pendingReceipts.get(key);
        // Latest wins, equal seqs included: a delivered-only receipt keeps the read seq and
        // moves delivered_seq, and a topic's frames arrive in commit order.
        if (!prev || (prev.seq ?? 0) <= f.seq) this.pendingReceipts.set(key, f);
      } else if (f.type === 'inbox_hint' && f.conversation !== null) {
        // A channel's hints come in seq order: the latest carries everything the earlier did.
        this.pendingHints ??= new Map();
        this.pendingHints.set(f.conversation, f);
      } else if (f.type === 'presence' && f.entries) this.coalescePresence(f.conversation, f.entries);
      else coalesced = false;
      this.hooks.recordMetric({
        name: coalesced ? 'frame_coalesced' : 'frame_dropped',
        priority: f.priority,
      });
      return;
    }
    this.sink.write(f.text, f, cursor);
  }

  /**
   * Whether `bytes` more fit: over the hard mark the connection is cut (false), over the soft
   * mark it turns degraded and says so ahead of the backlog. False: the frame must not be written.
   */
  private admit(bytes: number): boolean {
    const queued = this.sink.bufferedAmount();
    if (queued + bytes > this.limits.hardMarkBytes) {
      this.cut();
      return false;
    }
    if (!this.degraded && queued + bytes > this.limits.softMarkBytes) {
      this.degraded = true;
      this.hooks.onDegraded();
      // Ahead of the backlog: the reader learns it is behind as soon as it reads anything.
      this.sink.urgent(DEGRADED);
    }
    return true;
  }

  /** Whether `bytes` more would pass the soft mark (a replay then waits: paced()). */
  wouldPass(bytes: number): boolean {
    return this.sink.bufferedAmount() + bytes > this.limits.softMarkBytes;
  }

  /**
   * Waits until the queue is below half the soft mark. A reader that does not drain within
   * closeGraceMs is a slow consumer. False: the connection closed.
   */
  async paced(): Promise<boolean> {
    const deadline = Date.now() + this.limits.closeGraceMs;
    while (this.sink.bufferedAmount() > this.limits.softMarkBytes / 2) {
      if (this.closed) return false;
      if (Date.now() > deadline) {
        this.cut();
        return false;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    return !this.closed;
  }

  private coalescePresence(conversation: string | null, entries: readonly PresenceEntry[]): void {
    const room = conversation ?? '';
    this.pendingPresence ??= new Map();
    let m = this.pendingPresence.get(room);
    if (!m) {
      m = new Map();
      this.pendingPresence.set(room, m);
    }
    for (const e of entries) m.set(`${e.user_id}\0${e.device_id}`, e);
  }

  /** Called by the maintenance tick while degraded: below half the soft mark, flushes what was held. */
  checkRecovered(): boolean {
    if (this.closed) return true;
    if (this.sink.bufferedAmount() > this.limits.softMarkBytes / 2) return false;
    this.degraded = false;
    // Taken and cleared before re-emitting: emit() may degrade again and hold anew.
    const receipts = this.pendingReceipts;
    this.pendingReceipts = null;
    if (receipts) for (const r of receipts.values()) this.emit(r, null);
    const hints = this.pendingHints;
    this.pendingHints = null;
    if (hints) for (const h of hints.values()) this.emit(h, null);
    const rooms = this.pendingPresence;
    this.pendingPresence = null;
    if (rooms)
      for (const [room, m] of rooms) {
        this.send(
          { type: 'presence', conversation: room === '' ? null : room, entries: [...m.values()] },
          'presence',
        );
      }
    return true;
  }

  /**
   * Cuts the connection as a slow consumer: the frames still queued in user space are
   * dropped (the client resumes them by seq) and the close reason is sent ahead of them,
   * right behind the bytes already in flight to the kernel.
   */
  cut(): void {
    if (this.closed) return;
    this.closed = true;
    this.hooks.onClosing();
    const discarded = this.sink.cut(CLOSE.SLOW_CONSUMER, 'slow consumer');
    this.hooks.recordMetric({ name: 'slow_consumer', discardedBytes: discarded });
  }

  /** Closes the connection after the queued frames (once). */
  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.hooks.onClosing();
    this.sink.close(code, reason);
  }

  /** The transport is gone: nothing more is written, and the sink is not touched. */
  stop(): void {
    this.closed = true;
  }
}
