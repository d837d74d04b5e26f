// Resume of one conversation: where it is (the last applied seq), the frames
// buffered behind a hole, and the HTTP catch-up that closes holes. The rules
// (DESIGN §5):
//   seq <= last_seq            → duplicate, dropped (applying twice changes nothing);
//   seq == last_seq + 1        → applied, then any buffered successors;
//   seq >  last_seq + 1        → buffered, and the hole is fetched over HTTP first;
//   subscribed{complete:false} → the rest up to head_seq is paged over HTTP.
// Events are therefore applied exactly once and strictly in seq order.
import type { ConversationEvent } from '../protocol/model.ts';
import { HeraldClientError } from './errors.ts';
import type { EventsPage } from './http.ts';
import type { Timers } from './timers.ts';

/** Codes after which the server will not deliver a conversation to us: the subscription ends. */
export const ENDS_SUBSCRIPTION: ReadonlySet<string> = new Set([
  'NOT_A_MEMBER',
  'CONVERSATION_NOT_FOUND',
  'FORBIDDEN',
]);

export type EventSource = 'socket' | 'http';

export interface ResumeDeps {
  /** `signal` aborts the request when the client disconnects; the result is then ignored anyway. */
  fetchEvents(
    conversation: string,
    afterSeq: number,
    limit: number,
    signal?: AbortSignal,
  ): Promise<EventsPage>;
  error(err: HeraldClientError): void;
  retryDelay(attempt: number): number;
  timers: Timers;
  pageSize: number;
  replaySettleMs: number;
}

/** The subscription around a resume: it records what is applied and owns open/closed. */
export interface ResumeHost {
  readonly conversation: string;
  isClosed(): boolean;
  applied(seq: number, event: ConversationEvent, source: EventSource): void;
  /** Catch-up failed with a code after which retrying cannot help: the subscription ends. */
  refused(code: string): void;
}

export class Resume {
  private _seq: number | null;
  private knownHead = 0;
  private readonly buffer = new Map<number, ConversationEvent>();
  private filling = false;
  private fillAttempt = 0;
  /** Bumped by cancel(): a fill started before it stops at its next await and reports nothing. */
  private fillGen = 0;
  private fillAbort: AbortController | null = null;
  private retryTimer: unknown = null;
  private settleTimer: unknown = null;
  /** Replayed frames announced by a `subscribed` that preceded them; null when none are awaited. */
  private replayTarget: number | null = null;
  private receivedSinceSubscribe = 0;

  constructor(
    sinceSeq: number | undefined,
    private readonly host: ResumeHost,
    private readonly deps: ResumeDeps,
  ) {
    this._seq = sinceSeq ?? null;
  }

  /** Seq of the last applied event; null until the first `subscribed` when opened without one. */
  get seq(): number | null {
    return this._seq;
  }

  /** True while a hole or an incomplete replay is being fetched over HTTP. */
  get catchingUp(): boolean {
    return this.filling || this.retryTimer !== null;
  }

  /** A position from storage, unless one was given: returns the position now. */
  seed(lastSeq: number): number {
    if (this._seq === null) this._seq = lastSeq;
    return this._seq;
  }

  /** A new subscribe goes out: frames buffered on the old socket will be replayed after since_seq. */
  resubscribing(): void {
    this.buffer.clear();
    this.receivedSinceSubscribe = 0;
    this.replayTarget = null;
    this.clearSettle();
  }

  /** `subscribed` arrived: learn the head; a subscription opened without a position starts here. */
  subscribed(head: number, replayed: number): void {
    this.knownHead = Math.max(this.knownHead, head);
    if (this._seq === null) {
      this._seq = Math.max(0, head - replayed);
      this.drainBuffer();
    }
  }

  /** After `subscribed` was announced: catch up to the head, once its replay has landed. */
  catchUp(head: number, replayed: number): void {
    if (this._seq === null || this._seq >= head) return;
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

  /** An `event` frame (live or replayed). */
  event(seq: number, event: ConversationEvent): void {
    this.receivedSinceSubscribe++;
    this.onFrame(seq, event);
    if (this.replayTarget !== null && this.receivedSinceSubscribe >= this.replayTarget) this.replayDone();
  }

  /** The client disconnected: drop the buffer and stop any catch-up; the next subscribe starts over. */
  suspend(): void {
    this.cancelFill();
    this.clearSettle();
    this.replayTarget = null;
    this.buffer.clear();
  }

  /** The subscription ended. */
  stop(): void {
    this.buffer.clear();
    this.clearSettle();
    this.cancelFill();
  }

  /** The announced replay has arrived (or stopped arriving): catch up whatever is still missing. */
  private replayDone(): void {
    this.replayTarget = null;
    this.clearSettle();
    if (this._seq !== null && this._seq < this.knownHead) this.fill();
  }

  private onFrame(seq: number, event: ConversationEvent): void {
    if (this._seq === null) {
      this.buffer.set(seq, event);
      return;
    }
    if (seq <= this._seq) return;
    if (seq === this._seq + 1 && !this.filling) {
      this.apply(seq, event, 'socket');
      this.drainBuffer();
      return;
    }
    if (!this.buffer.has(seq)) this.buffer.set(seq, event);
    this.knownHead = Math.max(this.knownHead, seq);
    if (!this.filling && this.retryTimer === null) this.fill();
  }

  private apply(seq: number, event: ConversationEvent, source: EventSource): void {
    this._seq = seq;
    if (seq >= this.knownHead) this.clearSettle();
    this.host.applied(seq, event, source);
  }

  /** Applies buffered frames that are now contiguous; returns whether anything was applied. */
  private drainBuffer(): boolean {
    if (this._seq === null) return false;
    for (const s of this.buffer.keys()) if (s <= this._seq) this.buffer.delete(s);
    let progressed = false;
    for (let next = this.buffer.get(this._seq + 1); next; next = this.buffer.get(this._seq + 1)) {
      this.buffer.delete(this._seq + 1);
      this.apply(this._seq + 1, next, 'socket');
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
    if (this.filling || this.host.isClosed() || this._seq === null) return;
    this.filling = true;
    const gen = this.fillGen;
    const abort = typeof AbortController === 'function' ? new AbortController() : null;
    this.fillAbort = abort;
    const conversation = this.host.conversation;
    try {
      while (!this.host.isClosed() && this._seq < this.target()) {
        const page = await this.deps.fetchEvents(conversation, this._seq, this.deps.pageSize, abort?.signal);
        if (gen !== this.fillGen) return; // suspended or closed meanwhile: not ours to apply
        if (this.host.isClosed()) break;
        this.knownHead = Math.max(this.knownHead, page.head_seq);
        let progressed = false;
        for (const { seq, event } of page.events) {
          if (seq <= this._seq) continue;
          if (seq !== this._seq + 1) break;
          this.apply(seq, event, 'http');
          progressed = true;
        }
        if (this.drainBuffer()) progressed = true;
        if (!progressed && this._seq < this.target()) {
          throw new HeraldClientError(
            'INTERNAL',
            `Catch-up of ${conversation} made no progress after seq ${this._seq}.`,
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
      // Retrying cannot help: we may no longer read this conversation.
      if (ENDS_SUBSCRIPTION.has(e.code)) this.host.refused(e.code);
      if (this.host.isClosed()) return;
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

  private cancelFill(): void {
    this.fillGen++;
    this.fillAbort?.abort();
    this.fillAbort = null;
    this.filling = false;
    this.fillAttempt = 0;
    if (this.retryTimer !== null) this.deps.timers.clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private clearSettle(): void {
    if (this.settleTimer !== null) this.deps.timers.clearTimeout(this.settleTimer);
    this.settleTimer = null;
  }
}
