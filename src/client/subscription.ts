// One open conversation: its resume state (resume.ts: the last applied seq,
// holes fetched over HTTP, each event applied once and in seq order) and a
// small timeline of its messages (timeline.ts).
import type { ConversationEvent, Message } from '../protocol/model.ts';
import { Emitter } from './emitter.ts';
import type { MessagesPage } from './http.ts';
import { type EventSource, Resume, type ResumeDeps } from './resume.ts';
import { Timeline } from './timeline.ts';

export { ENDS_SUBSCRIPTION } from './resume.ts';

export interface AppliedEvent {
  conversation: string;
  seq: number;
  event: ConversationEvent;
  /** `socket` for live and replayed frames, `http` for catch-up pages. */
  source: EventSource;
}

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
export interface SubscriptionDeps extends ResumeDeps {
  fetchMessages(conversation: string, beforeSeq: number | undefined, limit: number): Promise<MessagesPage>;
  applied(e: AppliedEvent): void;
  unsubscribe(conversation: string): void;
  maxMessages: number;
  /** The signed-in user (a kind event's summary keeps the viewer's own part). */
  viewer?: () => string | null;
}

export class Subscription extends Emitter<SubscriptionEvents> {
  private readonly resume: Resume;
  private readonly timeline: Timeline;
  private _status: SubscriptionStatus = 'subscribing';
  /** Whether any event was applied (storage may seed only an untouched subscription). */
  private touched = false;

  constructor(
    readonly conversation: string,
    sinceSeq: number | undefined,
    private readonly deps: SubscriptionDeps,
  ) {
    super();
    this.timeline = new Timeline(deps.maxMessages, () => deps.viewer?.() ?? '');
    this.resume = new Resume(
      sinceSeq,
      {
        conversation,
        isClosed: () => this._status === 'closed',
        applied: (seq, event, source) => this.apply(seq, event, source),
        refused: (code) => {
          this.deps.unsubscribe(this.conversation);
          this.end(code);
        },
      },
      deps,
    );
  }

  /** Seq of the last applied event; null until the first `subscribed` when opened without sinceSeq. */
  get lastSeq(): number | null {
    return this.resume.seq;
  }

  get status(): SubscriptionStatus {
    return this._status;
  }

  /** True while a hole or an incomplete replay is being fetched over HTTP. */
  get catchingUp(): boolean {
    return this.resume.catchingUp;
  }

  /** Messages seen so far (live, replayed, fetched or loaded), ascending by seq. */
  messages(): Message[] {
    return this.timeline.messages();
  }

  /** Loads older history over HTTP into the timeline; resolves with the page's messages. */
  async loadOlder(limit = 50): Promise<MessagesPage> {
    const oldest = this.timeline.oldest()?.seq;
    const seq = this.resume.seq;
    const before = oldest ?? (seq === null ? undefined : seq + 1);
    const page = await this.deps.fetchMessages(this.conversation, before, limit);
    const fresh = page.messages.filter((m) => !this.timeline.has(m.id));
    if (fresh.length) this.timeline.addAll(fresh);
    return page;
  }

  /**
   * @internal Seeds an untouched subscription from storage: the stored position (unless the host
   * passed `sinceSeq`) and the cached messages up to the position. False when it was too late.
   */
  _restore(lastSeq: number, messages: Message[]): boolean {
    if (this.touched || this._status === 'closed' || this.timeline.size > 0) return false;
    const seq = this.resume.seed(lastSeq);
    const upTo = Math.min(seq, lastSeq);
    const kept = messages.filter((m) => m && typeof m.id === 'string' && m.seq <= upTo);
    this.timeline.addAll(kept);
    this.emit('restored', { last_seq: seq, messages: kept.length });
    return true;
  }

  /** @internal What storage keeps: the position and the newest `limit` messages. */
  _snapshot(limit: number): { last_seq: number; messages: Message[] } | null {
    const seq = this.resume.seq;
    if (seq === null) return null;
    return { last_seq: seq, messages: limit > 0 ? this.messages().slice(-limit) : [] };
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
    this.resume.resubscribing();
    if (this._status !== 'closed') this._status = 'subscribing';
    const seq = this.resume.seq;
    return seq === null
      ? { type: 'subscribe', conversation: this.conversation }
      : { type: 'subscribe', conversation: this.conversation, since_seq: seq };
  }

  /** @internal */
  _onSubscribed(head: number, replayed: number, complete: boolean): void {
    if (this._status === 'closed') return;
    this._status = 'subscribed';
    this.resume.subscribed(head, replayed);
    this.emit('subscribed', { head_seq: head, replayed, complete });
    this.resume.catchUp(head, replayed);
  }

  /** @internal */
  _onEvent(seq: number, event: ConversationEvent): void {
    if (this._status === 'closed') return;
    this.resume.event(seq, event);
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
    this.resume.suspend();
  }

  private end(code: string): void {
    if (this._status === 'closed') return;
    this._status = 'closed';
    this.resume.stop();
    this.emit('closed', { code });
  }

  private apply(seq: number, event: ConversationEvent, source: EventSource): void {
    this.touched = true;
    this.timeline.record(event);
    const applied: AppliedEvent = { conversation: this.conversation, seq, event, source };
    this.emit('event', applied);
    this.deps.applied(applied);
  }
}
