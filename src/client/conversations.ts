// The open conversations: one Subscription each, the subscribes still to write
// on this connection (in order), and resubscribes after a retryable refusal.
// After every welcome all of them resubscribe with since_seq = their last
// applied seq (resume.ts then repairs any gap).
import type { ServerFrame } from '../protocol/frames.ts';
import type { HeraldClientError } from './errors.ts';
import type { HeraldHttp } from './http.ts';
import type { NamedTimers } from './named-timers.ts';
import type { FlushContext, FlushLane } from './paced-flush.ts';
import { ENDS_SUBSCRIPTION } from './resume.ts';
import { type AppliedEvent, Subscription } from './subscription.ts';
import type { Timers } from './timers.ts';
import type { StreamPosition } from './transport-switch.ts';
import { expandEvent } from './wire.ts';

type Frame<T extends ServerFrame['type']> = Extract<ServerFrame, { type: T }>;

export interface ConversationsDeps {
  http: HeraldHttp;
  clock: Timers;
  timers: NamedTimers;
  pageSize: number;
  replaySettleMs: number;
  maxMessages: number;
  /** The signed-in user (a kind event's summary keeps the viewer's own part). */
  viewer(): string | null;
  retryDelay(attempt: number): number;
  applied(e: AppliedEvent): void;
  /** A failure of background work (catch-up). */
  error(err: HeraldClientError): void;
  /** The host closed it: the façade keeps its snapshot, forgets its room and sends `unsubscribe`. */
  closed(conversation: string): void;
  /**
   * The server ended it (an `unsubscribed` frame: `byFrame`, or an `error` frame with an
   * ENDS_SUBSCRIPTION code): forget what is held of it. Before the subscription says `closed`.
   */
  ended(conversation: string, byFrame: boolean): void;
  /** A check that the connection is still on the socket it was on when called. */
  sameSocket(): () => boolean;
  flush(): void;
}

export class Conversations implements FlushLane {
  private readonly subs = new Map<string, Subscription>();
  /** Conversations whose `subscribe` must still be written on this connection, in order. */
  private readonly toSubscribe = new Set<string>();
  /** Consecutive retryable refusals of a subscribe, per conversation. */
  private readonly resubscribes = new Map<string, number>();

  constructor(private readonly deps: ConversationsDeps) {}

  get(conversation: string): Subscription | undefined {
    return this.subs.get(conversation);
  }

  all(): IterableIterator<Subscription> {
    return this.subs.values();
  }

  ids(): IterableIterator<string> {
    return this.subs.keys();
  }

  /** A new (or re-opened) subscription; the façade queues its subscribe when connected. */
  open(conversation: string, sinceSeq: number | undefined): Subscription {
    const { http, clock } = this.deps;
    const sub = new Subscription(conversation, sinceSeq, {
      fetchEvents: (c, after, limit, signal) => http.events(c, after, limit, { signal }),
      fetchMessages: (c, before, limit) => http.messages(c, { beforeSeq: before, limit }),
      applied: (e) => this.deps.applied(e),
      error: (err) => this.deps.error(err),
      unsubscribe: (c) => {
        this.deps.closed(c);
        this.subs.delete(c);
      },
      retryDelay: (n) => this.deps.retryDelay(n),
      timers: clock,
      pageSize: this.deps.pageSize,
      replaySettleMs: this.deps.replaySettleMs,
      maxMessages: this.deps.maxMessages,
      viewer: () => this.deps.viewer(),
    });
    this.subs.set(conversation, sub);
    this.resubscribes.delete(conversation);
    return sub;
  }

  /** Its subscribe goes out with the next flush. */
  subscribe(conversation: string): void {
    this.toSubscribe.add(conversation);
  }

  /** A new connection: every open conversation resubscribes from its position. */
  resume(): void {
    this.toSubscribe.clear();
    for (const conversation of this.subs.keys()) this.toSubscribe.add(conversation);
  }

  /** The socket is gone: the next welcome resubscribes everything anyway. */
  detached(): void {
    this.toSubscribe.clear();
    this.deps.timers.clearPrefix('resub:');
  }

  /** The client disconnected: catch-up retries, replay timers and fills in flight stop. */
  suspend(): void {
    for (const sub of this.subs.values()) sub._suspend();
  }

  /** Subscribed on this connection and not waiting for a resubscribe (typing may go). */
  live(conversation: string): boolean {
    return this.subs.get(conversation)?.status === 'subscribed' && !this.toSubscribe.has(conversation);
  }

  /** The open conversations an SSE stream carries, each from its last seq. */
  streams(): StreamPosition[] {
    return [...this.subs.values()]
      .filter((s) => s.status !== 'closed')
      .map((s) => ({ conversation: s.conversation, seq: s.lastSeq }));
  }

  onSubscribed(frame: Frame<'subscribed'>): void {
    this.resubscribes.delete(frame.conversation);
    this.subs.get(frame.conversation)?._onSubscribed(frame.head_seq, frame.replayed, frame.complete);
  }

  /** The server ended a subscription. */
  onUnsubscribed(frame: Frame<'unsubscribed'>): void {
    const sub = this.subs.get(frame.conversation);
    this.subs.delete(frame.conversation);
    this.deps.ended(frame.conversation, true);
    sub?._end(frame.code);
  }

  onEvent(frame: Frame<'event'>, tenantId: string): void {
    const sub = this.subs.get(frame.conversation);
    sub?._onEvent(frame.seq, expandEvent(frame.event, tenantId, frame.conversation, frame.seq));
  }

  /**
   * An `error` frame naming a conversation. ENDS_SUBSCRIPTION codes end it. Otherwise, for a
   * retryable code or INTERNAL, the server could not subscribe us this time and serves nothing of
   * the conversation until we ask again (INTERNAL included: no subscription exists behind it).
   * Even when `subscribed`: after close() + open(), the old subscribe's answer arrives first and
   * cannot be told from the new one's; a spare resubscribe only replays what we hold.
   */
  refused(conversation: string, code: string, retry: boolean): void {
    const sub = this.subs.get(conversation);
    if (sub && ENDS_SUBSCRIPTION.has(code)) {
      this.subs.delete(conversation);
      this.deps.ended(conversation, false);
      sub._end(code);
    } else if (sub && sub.status !== 'closed' && (retry || code === 'INTERNAL')) {
      this.resubscribeLater(conversation);
    }
  }

  drain(ctx: FlushContext): boolean {
    for (const conversation of this.toSubscribe) {
      if (!ctx.mayWrite(false)) return false;
      this.toSubscribe.delete(conversation);
      const sub = this.subs.get(conversation);
      if (sub && sub.status !== 'closed') ctx.write(sub._subscribeFrame());
    }
    return true;
  }

  /** A subscribe refused for now (STORE_UNAVAILABLE, RATE_LIMITED…): ask again after a backoff. */
  private resubscribeLater(conversation: string): void {
    const n = this.resubscribes.get(conversation) ?? 0;
    this.resubscribes.set(conversation, n + 1);
    const same = this.deps.sameSocket();
    this.deps.timers.set(`resub:${conversation}`, this.deps.retryDelay(n), () => {
      const sub = this.subs.get(conversation);
      if (!same() || !sub || sub.status === 'closed') return;
      this.toSubscribe.add(conversation);
      this.deps.flush();
    });
  }
}
