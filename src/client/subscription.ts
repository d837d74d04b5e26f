// One open conversation: its last applied seq, the frames buffered behind a
// hole, and a small timeline of messages. The rules (DESIGN §5):
//   seq <= last_seq            → duplicate, dropped (applying twice changes nothing);
//   seq == last_seq + 1        → applied, then any buffered successors;
//   seq >  last_seq + 1        → buffered, and the hole is fetched over HTTP first;
//   subscribed{complete:false} → the rest up to head_seq is paged over HTTP.
// Events are therefore applied exactly once and strictly in seq order.

import { applyKindEvent, keepSummaries } from '../protocol/kinds/index.ts';
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
  /** Position and cached messages came from storage (a reload): render `messages()` now. */
  restored: { last_seq: number; messages: number };
}

/** What a subscription needs from the client; kept narrow so it can be tested alone. */
export interface SubscriptionDeps {
  /** `signal` aborts the request when the client disconnects; the result is then ignored anyway. */
  fetchEvents(
    conversation: string,
    afterSeq: number,
    limit: number,
    signal?: AbortSignal,
  ): Promise<EventsPage>;
  fetchMessages(conversation: string, beforeSeq: number | undefined, limit: number): Promise<MessagesPage>;
  applied(e: AppliedEvent): void;
  error(err: HeraldClientError): void;
  unsubscribe(conversation: string): void;
  retryDelay(attempt: number): number;
  timers: Timers;
  pageSize: number;
  replaySettleMs: number;
  maxMessages: number;
  /** The signed-in user (a kind event's summary keeps the viewer's own part). */
  viewer?: () => string | null;
}

export class Subscription extends Emitter<SubscriptionEvents> {
  private seq: number | null;
  private knownHead = 0;
  private readonly buffer = new Map<number, ConversationEvent>();
  private filling = false;
  private fillAttempt = 0;
  /** Bumped by _suspend(): a fill started before it stops at its next await and reports nothing. */
  private fillGen = 0;
  private fillAbort: AbortController | null = null;
  private retryTimer: unknown = null;
  private settleTimer: unknown = null;
  /** Replayed frames announced by a `subscribed` that preceded them; null when none are awaited. */
  private replayTarget: number | null = null;
  private receivedSinceSubscribe = 0;
  /** The timeline: messages by id, plus their ids ascending by seq from `orderHead` on. */
  private readonly timeline = new Map<string, Message>();
  private order: string[] = [];
  private orderHead = 0;
  private _status: SubscriptionStatus = 'subscribing';
  /** Whether any event was applied (storage may seed only an untouched subscription). */
  private touched = false;

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
    const out: Message[] = [];
    for (let i = this.orderHead; i < this.order.length; i++) {
      const m = this.timeline.get(this.order[i]);
      if (m) out.push(m);
    }
    return out;
  }

  /** Loads older history over HTTP into the timeline; resolves with the page's messages. */
  async loadOlder(limit = 50): Promise<MessagesPage> {
    const oldest = this.oldest()?.seq;
    const before = oldest ?? (this.seq === null ? undefined : this.seq + 1);
    const page = await this.deps.fetchMessages(this.conversation, before, limit);
    const fresh = page.messages.filter((m) => !this.timeline.has(m.id));
    if (fresh.length) {
      // A page is one bulk insert: rebuild the order once (O(n log n) per page, never per frame).
      for (const m of fresh) this.timeline.set(m.id, m);
      const all = [...this.timeline.values()].sort((a, b) => a.seq - b.seq);
      this.order = all.map((m) => m.id);
      this.orderHead = 0;
    }
    return page;
  }

  /**
   * @internal Seeds an untouched subscription from storage: the stored position (unless the host
   * passed `sinceSeq`) and the cached messages up to the position. False when it was too late.
   */
  _restore(lastSeq: number, messages: Message[]): boolean {
    if (this.touched || this._status === 'closed' || this.timeline.size > 0) return false;
    if (this.seq === null) this.seq = lastSeq;
    const upTo = Math.min(this.seq, lastSeq);
    const kept = messages.filter((m) => m && typeof m.id === 'string' && m.seq <= upTo);
    for (const m of kept) this.timeline.set(m.id, m);
    this.order = [...this.timeline.values()].sort((a, b) => a.seq - b.seq).map((m) => m.id);
    this.orderHead = 0;
    this.emit('restored', { last_seq: this.seq, messages: kept.length });
    return true;
  }

  /** @internal What storage keeps: the position and the newest `limit` messages. */
  _snapshot(limit: number): { last_seq: number; messages: Message[] } | null {
    if (this.seq === null) return null;
    return { last_seq: this.seq, messages: limit > 0 ? this.messages().slice(-limit) : [] };
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

  /**
   * @internal The client disconnected: cancel the catch-up retry, the replay settle timer and any
   * fill in flight (its request is aborted and its result dropped). The next subscribe starts over.
   */
  _suspend(): void {
    this.cancelFill();
    this.clearSettle();
    this.replayTarget = null;
    this.buffer.clear();
  }

  // ---- internals ------------------------------------------------------------

  private end(code: string): void {
    if (this._status === 'closed') return;
    this._status = 'closed';
    this.buffer.clear();
    this.clearSettle();
    this.cancelFill();
    this.emit('closed', { code });
  }

  private apply(seq: number, event: ConversationEvent, source: AppliedEvent['source']): void {
    this.seq = seq;
    this.touched = true;
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
    const gen = this.fillGen;
    const abort = typeof AbortController === 'function' ? new AbortController() : null;
    this.fillAbort = abort;
    try {
      while (!this.isClosed() && this.seq < this.target()) {
        const page = await this.deps.fetchEvents(
          this.conversation,
          this.seq,
          this.deps.pageSize,
          abort?.signal,
        );
        if (gen !== this.fillGen) return; // suspended or closed meanwhile: not ours to apply
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
      this.fillAbort = null;
    } catch (err) {
      if (gen !== this.fillGen) return; // cancelled: the abort (or a late failure) is not news
      this.filling = false;
      this.fillAbort = null;
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
        this.put(event.message);
        break;
      case 'message.edited':
        // The edited message carries no summaries: its reactions and tallies stay.
        this.put(keepSummaries(this.timeline.get(event.message.id), event.message));
        break;
      case 'message.deleted': {
        const m = this.timeline.get(event.message_id);
        if (m) this.timeline.set(m.id, { ...m, body: '', attachments: [], deleted_at: event.deleted_at });
        break;
      }
      default: {
        // A kind's event (a reaction, a vote): the message's summary changes.
        const m = this.timeline.get(event.message_id);
        if (m) this.timeline.set(m.id, applyKindEvent(m, event, this.deps.viewer?.() ?? ''));
      }
    }
    // Evict from the front of the seq order: O(1) per evicted message.
    while (this.timeline.size > this.deps.maxMessages && this.orderHead < this.order.length) {
      this.timeline.delete(this.order[this.orderHead++]);
    }
    // Compact the consumed prefix now and then, so the array does not grow without bound.
    if (this.orderHead > 1024 && this.orderHead * 2 > this.order.length) {
      this.order = this.order.slice(this.orderHead);
      this.orderHead = 0;
    }
  }

  /** Adds or replaces a message, keeping `order` ascending by seq. */
  private put(message: Message): void {
    const known = this.timeline.has(message.id);
    this.timeline.set(message.id, message);
    if (known) return; // an edit: same seq, same place
    const newest =
      this.order.length > this.orderHead ? this.timeline.get(this.order[this.order.length - 1]) : undefined;
    if (!newest || newest.seq < message.seq) {
      this.order.push(message.id); // the common case: live traffic arrives in seq order
      return;
    }
    // Rare: an edit of a message we never held. Binary search for its place.
    let lo = this.orderHead;
    let hi = this.order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const m = this.timeline.get(this.order[mid]);
      if (m && m.seq < message.seq) lo = mid + 1;
      else hi = mid;
    }
    this.order.splice(lo, 0, message.id);
  }

  private oldest(): Message | undefined {
    return this.orderHead < this.order.length ? this.timeline.get(this.order[this.orderHead]) : undefined;
  }

  private cancelFill(): void {
    this.fillGen++;
    this.fillAbort?.abort();
    this.fillAbort = null;
    this.filling = false;
    this.fillAttempt = 0;
    if (this.retryTimer !== null) this.deps.timers.clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private isClosed(): boolean {
    return this._status === 'closed';
  }

  private clearSettle(): void {
    if (this.settleTimer !== null) this.deps.timers.clearTimeout(this.settleTimer);
    this.settleTimer = null;
  }
}
