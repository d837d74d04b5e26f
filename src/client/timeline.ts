// One conversation's timeline: messages by id, plus their ids ascending by seq
// from `head` on, capped at `maxMessages` (oldest evicted first). Live traffic
// arrives in seq order and appends; only pages and rare out-of-order edits pay
// for a sort or a binary search.
import { applyKindEvent, keepSummaries } from '../protocol/kinds/index.ts';
import {
  type ConversationEvent,
  type Message,
  type ThreadSummary,
  withThreadSummary,
} from '../protocol/model.ts';

export class Timeline {
  private readonly byId = new Map<string, Message>();
  private order: string[] = [];
  private head = 0;

  constructor(
    private readonly maxMessages: number,
    /** The signed-in user (a kind event's summary keeps the viewer's own part). */
    private readonly viewer: () => string = () => '',
  ) {}

  get size(): number {
    return this.byId.size;
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  /** Messages held, ascending by seq. */
  messages(): Message[] {
    const out: Message[] = [];
    for (let i = this.head; i < this.order.length; i++) {
      const m = this.byId.get(this.order[i]);
      if (m) out.push(m);
    }
    return out;
  }

  oldest(): Message | undefined {
    return this.head < this.order.length ? this.byId.get(this.order[this.head]) : undefined;
  }

  /** Adds messages in bulk (a history page, a stored cache): the order is rebuilt once. */
  addAll(messages: readonly Message[]): void {
    for (const m of messages) this.byId.set(m.id, m);
    // O(n log n) per page, never per frame.
    this.order = [...this.byId.values()].sort((a, b) => a.seq - b.seq).map((m) => m.id);
    this.head = 0;
  }

  /** Applies an event to the messages it touches. */
  record(event: ConversationEvent): void {
    switch (event.type) {
      case 'message.created':
      case 'message.edited': {
        // Thread replies stay out of the main timeline (as in history); their root counts them.
        // An edited message carries no summaries: its reactions and tallies stay.
        if (event.message.thread_root === undefined)
          this.put(
            event.type === 'message.edited'
              ? keepSummaries(this.byId.get(event.message.id), event.message)
              : event.message,
          );
        if (event.type === 'message.created' && event.thread) this.countReplies(event.thread);
        break;
      }
      case 'message.deleted': {
        const m = this.byId.get(event.message_id);
        if (m) this.byId.set(m.id, { ...m, body: '', attachments: [], deleted_at: event.deleted_at });
        // A deleted reply leaves its root's count.
        if (event.thread) this.countReplies(event.thread);
        break;
      }
      default: {
        // A kind's event (a reaction, a vote): the message's summary changes.
        const m = this.byId.get(event.message_id);
        if (m) this.byId.set(m.id, applyKindEvent(m, event, this.viewer()));
      }
    }
    // Evict from the front of the seq order: O(1) per evicted message.
    while (this.byId.size > this.maxMessages && this.head < this.order.length) {
      this.byId.delete(this.order[this.head++]);
    }
    // Compact the consumed prefix now and then, so the array does not grow without bound.
    if (this.head > 1024 && this.head * 2 > this.order.length) {
      this.order = this.order.slice(this.head);
      this.head = 0;
    }
  }

  /**
   * The root's count as the newest event says: events are applied once and in seq order, so
   * the summary of the last one is the count (down too, after a deleted reply).
   */
  private countReplies(t: ThreadSummary): void {
    const root = this.byId.get(t.root_id);
    if (root) this.byId.set(root.id, withThreadSummary(root, t));
  }

  /** Adds or replaces a message, keeping `order` ascending by seq. */
  private put(message: Message): void {
    const known = this.byId.has(message.id);
    this.byId.set(message.id, message);
    if (known) return; // an edit: same seq, same place
    const newest =
      this.order.length > this.head ? this.byId.get(this.order[this.order.length - 1]) : undefined;
    if (!newest || newest.seq < message.seq) {
      this.order.push(message.id); // the common case: live traffic arrives in seq order
      return;
    }
    // Rare: an edit of a message we never held. Binary search for its place.
    let lo = this.head;
    let hi = this.order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const m = this.byId.get(this.order[mid]);
      if (m && m.seq < message.seq) lo = mid + 1;
      else hi = mid;
    }
    this.order.splice(lo, 0, message.id);
  }
}
