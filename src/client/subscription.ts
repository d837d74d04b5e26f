// One open conversation: its last applied seq, the frames buffered behind a
// hole, and a small timeline of messages. The rules (DESIGN §5):
//   seq <= last_seq            → duplicate, dropped (applying twice changes nothing);
//   seq == last_seq + 1        → applied, then any buffered successors;
//   seq >  last_seq + 1        → buffered, and the hole is fetched over HTTP first;
//   subscribed{complete:false} → the rest up to head_seq is paged over HTTP.
// Events are therefore applied exactly once and strictly in seq order.
import type { ConversationEvent, Message } from '../protocol/model.ts';
import { Emitter } from './emitter.ts';
import { HeraldClientError } from './errors.ts';
import type { EventsPage, MessagesPage } from './http.ts';
import type { Timers } from './timers.ts';

export interface AppliedEvent {
  conversation: string;
  seq: number;
  event: ConversationEvent;
  /** `socket` for live and replayed frames, `http` for catch-up pages. */
  source: 'socket' | 'http';
}

/** Codes after which the server will not deliver a conversation to us: the subscription ends. */
export const ENDS_SUBSCRIPTION: ReadonlySet<string> = new Set([
  'NOT_A_MEMBER',
  'CONVERSATION_NOT_FOUND',
  'FORBIDDEN',
]);

export type SubscriptionStatus = 'subscribing' | 'subscribed' | 'closed';

export interface SubscriptionEvents {
  /** Every event, once, in seq order. */
  event: AppliedEvent;
  subscribed: { head_seq: number; replayed: number; complete: boolean };
  /** The server ended the subscription (e.g. NOT_A_MEMBER) or close() was called. */
  closed: { code: string };
}

/** What a subscription needs from the client; kept narrow so it can be tested alone. */
export interface SubscriptionDeps {
  fetchEvents(conversation: string, afterSeq: number, limit: number): Promise<EventsPage>;
  fetchMessages(conversation: string, beforeSeq: number | undefined, limit: number): Promise<MessagesPage>;
  applied(e: AppliedEvent): void;
  error(err: HeraldClientError): void;
  unsubscribe(conversation: string): void;
  retryDelay(attempt: number): number;
  timers: Timers;
  pageSize: number;
  replaySettleMs: number;
  maxMessages: number;
}

export class Subscription extends Emitter<SubscriptionEvents> {
  private seq: number | null;
  private knownHead = 0;
  private readonly buffer = new Map<number, ConversationEvent>();
  private filling = false;
  private fillAttempt = 0;
  private retryTimer: unknown = null;
  private settleTimer: unknown = null;
  /** Replayed frames announced by a `subscribed` that preceded them; null when none are awaited. */
  private replayTarget: number | null = null;
  private receivedSinceSubscribe = 0;
  private readonly timeline = new Map<string, Message>();
  private _status: SubscriptionStatus = 'subscribing';

  constructor(
    readonly conversation: string,
    sinceSeq: number | undefined,
    private readonly deps: SubscriptionDeps,
  ) {
    super();
    this.seq = sinceSeq ?? null;
  }

  /** Seq of the last applied event; null until the first `subscribed` when opened without sinceSeq. */
  get lastSeq(): number | null {
    return this.seq;
  }

  get status(): SubscriptionStatus {
    return this._status;
  }

  /** True while a hole or an incomplete replay is being fetched over HTTP. */
  get catchingUp(): boolean {
    return this.filling || this.retryTimer !== null;
  }

  /** Messages seen so far (live, replayed, fetched or loaded), ascending by seq. */
  messages(): Message[] {
    return [...this.timeline.values()].sort((a, b) => a.seq - b.seq);
  }

  /** Loads older history over HTTP into the timeline; resolves with the page's messages. */
  async loadOlder(limit = 50): Promise<MessagesPage> {
    let oldest: number | undefined;
    for (const m of this.timeline.values()) if (oldest === undefined || m.seq < oldest) oldest = m.seq;
    const before = oldest ?? (this.seq === null ? undefined : this.seq + 1);
    const page = await this.deps.fetchMessages(this.conversation, before, limit);
    for (const m of page.messages) if (!this.timeline.has(m.id)) this.timeline.set(m.id, m);
    return page;
  }

  /** Stops following the conversation (sends `unsubscribe`). */
  close(): void {
    if (this._status === 'closed') return;
    this.deps.unsubscribe(this.conversation);
    this.end('UNSUBSCRIBED');
  }

  // ---- driven by the client -------------------------------------------------

  /** @internal The subscribe frame for the current position; resets per-connection state. */
  _subscribeFrame(): { type: 'subscribe'; conversation: string; since_seq?: number } {
    // Frames buffered on the old socket will be replayed after since_seq.
    this.buffer.clear();
    this.receivedSinceSubscribe = 0;
    this.replayTarget = null;
    this.clearSettle();
    if (this._status !== 'closed') this._status = 'subscribing';
    return this.seq === null
      ? { type: 'subscribe', conversation: this.conversation }
      : { type: 'subscribe', conversation: this.conversation, since_seq: this.seq };
  }

  /** @internal */
  _onSubscribed(head: number, replayed: number, complete: boolean): void {
    if (this._status === 'closed') return;
    this._status = 'subscribed';
    this.knownHead = Math.max(this.knownHead, head);
    if (this.seq === null) {
      this.seq = Math.max(0, head - replayed);
      this.drainBuffer();
    }
    this.emit('subscribed', { head_seq: head, replayed, complete });
    if (this.seq >= head) return;
    if (this.receivedSinceSubscribe >= replayed) {
      // The replay is over (it came first, or there is none) and we are still short of the head.
      this.fill();
      return;
    }
    // `subscribed` precedes its replay (the gateway's order): let the replayed frames land, then
    // fetch only what they did not cover (all of it past the replay when complete is false).
    this.replayTarget = replayed;
    this.settleTimer = this.deps.timers.setTimeout(() => this.replayDone(), this.deps.replaySettleMs);
  }

  /** The announced replay has arrived (or stopped arriving): catch up whatever is still missing. */
  private replayDone(): void {
    this.replayTarget = null;
    this.clearSettle();
    if (this.seq !== null && this.seq < this.knownHead) this.fill();
  }

  /** @internal */
  _onEvent(seq: number, event: ConversationEvent): void {
    if (this._status === 'closed') return;
    this.receivedSinceSubscribe++;
    this.onFrame(seq, event);
    if (this.replayTarget !== null && this.receivedSinceSubscribe >= this.replayTarget) this.replayDone();
  }

  private onFrame(seq: number, event: ConversationEvent): void {
    if (this.seq === null) {
      this.buffer.set(seq, event);
      return;
    }
    if (seq <= this.seq) return;
    if (seq === this.seq + 1 && !this.filling) {
      this.apply(seq, event, 'socket');
      this.drainBuffer();
      return;
    }
    if (!this.buffer.has(seq)) this.buffer.set(seq, event);
    this.knownHead = Math.max(this.knownHead, seq);
    if (!this.filling && this.retryTimer === null) this.fill();
  }

  /** @internal The server ended the subscription. */
  _end(code: string): void {
    this.end(code);
  }

  // ---- internals ------------------------------------------------------------

  private end(code: string): void {
    if (this._status === 'closed') return;
    this._status = 'closed';
    this.buffer.clear();
    this.clearSettle();
    if (this.retryTimer !== null) this.deps.timers.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.emit('closed', { code });
  }

  private apply(seq: number, event: ConversationEvent, source: AppliedEvent['source']): void {
    this.seq = seq;
    this.record(event);
    if (this.seq >= this.knownHead) this.clearSettle();
    const applied: AppliedEvent = { conversation: this.conversation, seq, event, source };
    this.emit('event', applied);
    this.deps.applied(applied);
  }

  /** Applies buffered frames that are now contiguous; returns whether anything was applied. */
  private drainBuffer(): boolean {
    if (this.seq === null) return false;
    for (const s of this.buffer.keys()) if (s <= this.seq) this.buffer.delete(s);
    let progressed = false;
    for (let next = this.buffer.get(this.seq + 1); next; next = this.buffer.get(this.seq + 1)) {
      this.buffer.delete(this.seq + 1);
      this.apply(this.seq + 1, next, 'socket');
      progressed = true;
    }
    return progressed;
  }

  private target(): number {
    let max = this.knownHead;
    for (const s of this.buffer.keys()) if (s > max) max = s;
    return max;
  }

  /** Pages events over HTTP until the hole (and any incomplete replay) is closed. */
  private async fill(): Promise<void> {
    if (this.filling || this._status === 'closed' || this.seq === null) return;
    this.filling = true;
    try {
      while (!this.isClosed() && this.seq < this.target()) {
        const page = await this.deps.fetchEvents(this.conversation, this.seq, this.deps.pageSize);
        if (this.isClosed()) break;
        this.knownHead = Math.max(this.knownHead, page.head_seq);
        let progressed = false;
        for (const { seq, event } of page.events) {
          if (seq <= this.seq) continue;
          if (seq !== this.seq + 1) break;
          this.apply(seq, event, 'http');
          progressed = true;
        }
        if (this.drainBuffer()) progressed = true;
        if (!progressed && this.seq < this.target()) {
          throw new HeraldClientError(
            'INTERNAL',
            `Catch-up of ${this.conversation} made no progress after seq ${this.seq}.`,
          );
        }
      }
      this.fillAttempt = 0;
      this.filling = false;
    } catch (err) {
      this.filling = false;
      const e =
        err instanceof HeraldClientError
          ? err
          : new HeraldClientError('NETWORK_ERROR', undefined, { cause: err });
      this.deps.error(e);
      if (ENDS_SUBSCRIPTION.has(e.code)) {
        // Retrying cannot help: we may no longer read this conversation.
        this.deps.unsubscribe(this.conversation);
        this.end(e.code);
      }
      if (this.isClosed()) return;
      // Keep the buffer and try again later; frames behind the hole stay unapplied until then.
      this.retryTimer = this.deps.timers.setTimeout(
        () => {
          this.retryTimer = null;
          this.fill();
        },
        this.deps.retryDelay(this.fillAttempt++),
      );
    }
  }

  private record(event: ConversationEvent): void {
    switch (event.type) {
      case 'message.created':
      case 'message.edited':
        this.timeline.set(event.message.id, event.message);
        break;
      case 'message.deleted': {
        const m = this.timeline.get(event.message_id);
        if (m) this.timeline.set(m.id, { ...m, body: '', attachments: [], deleted_at: event.deleted_at });
        break;
      }
      default: {
        const unknown: never = event;
        void unknown;
      }
    }
    if (this.timeline.size > this.deps.maxMessages) {
      const sorted = this.messages();
      for (const m of sorted.slice(0, sorted.length - this.deps.maxMessages)) this.timeline.delete(m.id);
    }
  }

  private isClosed(): boolean {
    return this._status === 'closed';
  }

  private clearSettle(): void {
    if (this.settleTimer !== null) this.deps.timers.clearTimeout(this.settleTimer);
    this.settleTimer = null;
  }
}
