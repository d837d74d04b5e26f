// One client connection (a WebSocket or an SSE stream), transport-agnostic:
// its subscriptions (replay then live, gapless and duplicate-free), its
// personal room, presence and typing, token expiry, and the outgoing queue
// with backpressure. The transport supplies a Sink; frames from the bus
// arrive as the same string/buffer for every session.
import {
  CLOSE,
  type ClientFrame,
  type ErrorCode,
  HeraldError,
  type PresenceEntry,
  type PresenceStatus,
  type ServerFrame,
  topics,
} from '../protocol/index.ts';
import type { GatewayCore } from './core.ts';
import { handleKindFrame } from './kind-frames.ts';
import type { Priority } from './metrics.ts';
import { storedEventFrame, type TopicFrame } from './topic-hub.ts';

/**
 * Where a session's frames go (src/gateway/writer.ts queues and batches them). `cursor`
 * marks event frames (SSE uses it for Last-Event-ID).
 */
export interface Sink {
  readonly transport: 'ws' | 'sse';
  /** A frame: shared by a topic's sessions (`frame`, rendered once per transport) or this session's own. */
  write(text: string, frame: TopicFrame | null, cursor: { conversation: string; seq: number } | null): void;
  /** A control frame written ahead of the queued frames (behind the bytes in flight only). */
  urgent(text: string): void;
  /** Bytes accepted but not yet handed to the kernel. */
  bufferedAmount(): number;
  /** Ends the connection with a close code after the queued frames (SSE: ends the stream). */
  close(code: number, reason: string): void;
  /**
   * Ends the connection now: drops the queued frames and sends the close reason ahead of
   * them, so a reader that is behind learns why it was cut. Returns the bytes dropped.
   */
  cut(code: number, reason: string): number;
}

export interface SessionIdentity {
  id: string;
  tenant: string;
  user: string;
  device: string;
  /** Token expiry, ms since the epoch. */
  expiresMs: number;
}

interface Subscription {
  conversation: string;
  /**
   * pending: checking access; replaying: the subscribe replay runs and room frames are
   * buffered; live; resyncing: live to the client, but room frames are buffered while the
   * store fills in what the bus lost (see beginResync).
   */
  state: 'pending' | 'replaying' | 'live' | 'resyncing';
  lastSeq: number;
  /** The seq at which membership was confirmed: a `left` of this user at or below it is history. */
  memberAt: number;
  /** The bus was lost while this subscription was not live: resync it as soon as it is. */
  resyncAgain: boolean;
  buffer: TopicFrame[];
  unlisten: (() => void)[];
  lastTypingMs: number;
  /** Presence is exchanged in rooms up to presenceSnapshotMax members only: it costs O(members²). */
  presence: boolean;
}

/**
 * One live subscription being repaired after the bus lost messages. GatewayCore.resync
 * reads the store once per conversation and offers the events to every target of it;
 * each keeps only what is past its own lastSeq.
 */
export interface ResyncTarget {
  readonly tenant: string;
  readonly conversation: string;
  /** Events after this seq are wanted. */
  readonly since: number;
  /** Events read from the store, in seq order. False once the subscription is gone. */
  offer(frames: readonly TopicFrame[]): boolean;
  /** Back to live: flushes the room frames buffered meanwhile. */
  finish(): void;
}

const DEGRADED = JSON.stringify({ type: 'degraded', reason: 'backpressure' } satisfies ServerFrame);

/** Frames shed (typing) or coalesced (presence, receipts) while degraded. */
const sheddable = (p: Priority) => p !== 'message' && p !== 'inbox';

/** Live to the client (resyncing buffers room frames only). */
const isLive = (sub: Subscription | undefined) => sub?.state === 'live' || sub?.state === 'resyncing';

const MAX_TIMER_MS = 2_147_483_647;

export class Session {
  readonly id: string;
  readonly tenant: string;
  readonly user: string;
  readonly device: string;
  expiresMs: number;
  /** Last time the client was heard from (frames, pongs); real time. */
  lastSeen = Date.now();

  private readonly subs = new Map<string, Subscription>();
  private personalUnlisten: (() => void) | null = null;
  /** Personal-room frames that arrive before `welcome` is sent are held here. */
  private early: TopicFrame[] | null = [];
  private closing = false;
  private disposed = false;
  private degraded = false;
  /** Receipts held while degraded, latest per reader. */
  private readonly pendingReceipts = new Map<string, TopicFrame>();
  private readonly pendingPresence = new Map<string, Map<string, PresenceEntry>>();
  private status: PresenceStatus = 'active';
  private resource: string | null = null;
  private viewing: string | null = null;
  private expiringTimer: NodeJS.Timeout | null = null;
  /** Per conversation, the last `send` of this connection: the next one waits for it. */
  private readonly sendQueues = new Map<string, Promise<void>>();

  constructor(
    private readonly core: GatewayCore,
    readonly sink: Sink,
    ident: SessionIdentity,
  ) {
    this.id = ident.id;
    this.tenant = ident.tenant;
    this.user = ident.user;
    this.device = ident.device;
    this.expiresMs = ident.expiresMs;
  }

  get isClosing(): boolean {
    return this.closing;
  }

  get subscriptionCount(): number {
    return this.subs.size;
  }

  /** Joins the personal room, registers the connection, records presence, arms expiry. */
  async start(): Promise<void> {
    const { hub, opts } = this.core;
    const unlisten = await hub.add(topics.user(this.tenant, this.user), (f) =>
      this.early ? this.early.push(f) : this.emitFrame(f, null),
    );
    if (this.closing) {
      unlisten();
      return;
    }
    this.personalUnlisten = unlisten;
    await this.core.connections.register(
      this.tenant,
      { user_id: this.user, device_id: this.device, connection_id: this.id, node_id: opts.nodeId },
      opts.connectionTtlMs,
      opts.now(),
    );
    // The connection may have gone meanwhile. If dispose() already ran, its unregister may
    // have preceded this register: undo it here. Either way no timer may keep a dead session.
    if (this.closing) {
      if (this.disposed) await this.unregister();
      return;
    }
    await this.heartbeat(undefined, undefined);
    if (this.closing) return;
    this.armExpiry(this.expiresMs);
  }

  /** Sends `welcome`, then whatever the personal room delivered meanwhile. */
  welcome(frame: Extract<ServerFrame, { type: 'welcome' }>): void {
    this.send(frame);
    const early = this.early ?? [];
    this.early = null;
    for (const f of early) this.emitFrame(f, null);
  }

  /**
   * (Re)arms `token_expiring` and the TOKEN_EXPIRED close for a token expiring at expMs. A renewal
   * whose expiry did not move changes nothing (re-arming would send the hint again at once).
   */
  armExpiry(expMs: number, renewed = false): void {
    if (renewed && expMs <= this.expiresMs) return;
    this.expiresMs = expMs;
    if (this.expiringTimer) clearTimeout(this.expiringTimer);
    this.expiringTimer = null;
    if (this.closing) return;
    const left = expMs - Date.now();
    // setTimeout holds at most ~24.8 days; longer-lived (host) tokens are re-checked then.
    if (left > MAX_TIMER_MS) {
      this.expiringTimer = setTimeout(() => this.armExpiry(expMs), MAX_TIMER_MS);
      this.expiringTimer.unref();
      return;
    }
    // The hint goes `lead` before expiry, but never before two thirds of the remaining life: a
    // token living less than `lead` would be told at once, and again after every renewal.
    const lead = Math.min(this.core.opts.tokenExpiringLeadMs, left / 3);
    this.expiringTimer = setTimeout(
      () => {
        this.send({ type: 'token_expiring', expires_at: Math.floor(expMs / 1000) });
        this.expiringTimer = setTimeout(
          () => this.close(CLOSE.TOKEN_EXPIRED, 'token expired'),
          Math.max(0, expMs - Date.now()),
        );
        this.expiringTimer.unref();
      },
      Math.max(0, left - lead),
    );
    this.expiringTimer.unref();
  }

  // ---- client frames ------------------------------------------------------

  /**
   * Handles one authenticated client frame. Errors become `error` frames. Frames run
   * concurrently, except that a `send` waits for the previous `send` of this connection to
   * the same conversation: their seqs follow frame order (they would otherwise race for the
   * conversation's row lock on different connections of the pool).
   */
  handle(frame: Exclude<ClientFrame, { type: 'auth' }>): Promise<void> {
    if (frame.type !== 'send') return this.handleNow(frame);
    const key = frame.conversation;
    const run = (this.sendQueues.get(key) ?? Promise.resolve())
      .then(() => this.handleNow(frame))
      .catch((err) => this.core.opts.log?.error({ err, connection: this.id }, 'gateway send failed'));
    this.sendQueues.set(key, run);
    return run.finally(() => {
      if (this.sendQueues.get(key) === run) this.sendQueues.delete(key);
    });
  }

  private async handleNow(frame: Exclude<ClientFrame, { type: 'auth' }>): Promise<void> {
    try {
      switch (frame.type) {
        case 'subscribe':
          return await this.subscribe(frame.conversation, frame.since_seq);
        case 'unsubscribe':
          this.unsubscribe(frame.conversation, 'UNSUBSCRIBED');
          return;
        case 'send': {
          const m = await this.core.send(this, frame);
          // A sent message ends the typing burst: the next keystroke must announce itself at once.
          const sub = this.subs.get(frame.conversation);
          if (sub) sub.lastTypingMs = Number.NEGATIVE_INFINITY;
          this.send({
            type: 'ack',
            client_id: frame.client_id,
            conversation: frame.conversation,
            seq: m.seq,
            message_id: m.id,
          });
          return;
        }
        case 'read':
          await this.core.read(this, frame.conversation, frame.seq);
          return;
        case 'delivered':
          await this.core.delivered(this, frame.conversation, frame.seq);
          return;
        case 'view':
          return await this.view(frame.conversation);
        case 'typing':
          return await this.typing(frame.conversation);
        case 'heartbeat':
          return await this.heartbeat(frame.status, frame.resource);
        case 'ping':
          this.send({ type: 'pong' });
          return;
        default:
          return await handleKindFrame(this.core, this, frame);
      }
    } catch (err) {
      const ref =
        frame.type === 'send'
          ? frame.client_id
          : 'conversation' in frame
            ? (frame.conversation ?? undefined)
            : undefined;
      this.sendError(err, ref);
    }
  }

  sendError(err: unknown, ref?: string): void {
    if (err instanceof HeraldError) {
      this.send({
        type: 'error',
        code: err.code,
        message: err.message,
        ...(ref !== undefined ? { ref } : {}),
      });
      return;
    }
    this.core.opts.log?.error({ err, connection: this.id }, 'gateway frame failed');
    this.send({
      type: 'error',
      code: 'INTERNAL',
      message: 'Internal error.',
      ...(ref !== undefined ? { ref } : {}),
    });
  }

  // ---- subscriptions --------------------------------------------------------

  /**
   * Subscribe with replay: join the bus topic FIRST and buffer what arrives, check access
   * and replay (since, head] from the events table in one read, then flush the buffer
   * dropping seq <= last replayed. Any event is either published after the
   * bus subscription (live) or committed before the replay query (replayed):
   * no hole, and the seq filter removes the overlap.
   */
  async subscribe(conversation: string, since: number | undefined): Promise<void> {
    const { core } = this;
    const prev = this.subs.get(conversation);
    if (prev) this.dropSub(prev);
    else if (this.subs.size >= core.opts.maxSubscriptions) {
      throw new HeraldError(
        'VALIDATION_FAILED',
        `At most ${core.opts.maxSubscriptions} subscriptions per connection.`,
      );
    }
    const sub: Subscription = {
      conversation,
      state: 'pending',
      lastSeq: 0,
      memberAt: 0,
      resyncAgain: false,
      buffer: [],
      unlisten: [],
      lastTypingMs: -Infinity,
      presence: false,
    };
    this.subs.set(conversation, sub);
    const current = () => this.subs.get(conversation) === sub && !this.closing;
    try {
      // The bus topics first, the store after: one read then checks access and replays, from
      // one snapshot (a round trip per subscribe saved: a connect storm is mostly subscribes).
      // Until access is confirmed room frames are only buffered, and a refusal drops them.
      const onRoom = (f: TopicFrame) => (sub.state === 'live' ? this.deliver(sub, f) : sub.buffer.push(f));
      const onEphemeral = (f: TopicFrame) => {
        if (!isLive(sub) || (f.type === 'typing' && f.userId === this.user)) return;
        this.emitFrame(f, null);
      };
      sub.unlisten.push(await core.hub.add(topics.conversation(this.tenant, conversation), onRoom));
      sub.unlisten.push(await core.hub.add(topics.ephemeral(this.tenant, conversation), onEphemeral));
      if (!current()) return this.dropSub(sub);

      const limit = core.opts.deps.limits.replayLimit;
      const catchupStart = performance.now();
      const read = await core.subscribeRead(this.tenant, conversation, this.user, since ?? null, limit);
      if (!read) throw new HeraldError('CONVERSATION_NOT_FOUND');
      const { access, replay } = read;
      if (!access.allowed) throw new HeraldError('NOT_A_MEMBER');
      if (!current()) return this.dropSub(sub);
      sub.state = 'replaying';
      // Membership and the replay come from one snapshot: a `left` of this user at or below the
      // head is history (they were re-added since), one above it ends the subscription.
      sub.memberAt = access.head;
      if (since !== undefined && since > replay.head) {
        throw new HeraldError('INVALID_SEQ', `since_seq ${since} is beyond the head (${replay.head}).`);
      }
      const lastReplayed = replay.events.length
        ? replay.events[replay.events.length - 1].seq
        : (since ?? replay.head);
      this.send({
        type: 'subscribed',
        conversation,
        head_seq: replay.head,
        replayed: replay.events.length,
        complete: since === undefined || lastReplayed >= replay.head,
      });
      sub.lastSeq = since ?? replay.head;
      for (const e of replay.events) {
        // Replay is paced by the reader: a long replay of large events must not
        // look like a slow consumer, so it waits for the queue to drain.
        if (this.sink.bufferedAmount() + e.frame.length > core.opts.softMarkBytes && !(await this.paced()))
          return;
        if (!current()) return this.dropSub(sub);
        // Through deliver(), like a live frame: a replayed `left` of this user ends the
        // subscription (its live copy is dropped later as a duplicate, before any check).
        this.deliver(sub, storedEventFrame(conversation, e.seq, e.frame));
        if (!current()) return;
      }
      core.metrics.record({ name: 'replay', events: replay.events.length });
      if (since !== undefined) {
        const seconds = (performance.now() - catchupStart) / 1000;
        core.metrics.record({ name: 'catchup', kind: 'subscribe', events: replay.events.length, seconds });
      }
      sub.lastSeq = Math.max(sub.lastSeq, lastReplayed);
      this.goLive(sub);
      // The subscription is live and announced: a failed presence snapshot (best effort) must
      // not end it — the client would hold a subscription the gateway no longer serves.
      if (current())
        await this.presenceOnSubscribe(conversation, access.member_count).catch((err) =>
          core.opts.log?.warn({ err, conversation }, 'presence snapshot failed'),
        );
    } catch (err) {
      if (this.subs.get(conversation) === sub) this.dropSub(sub);
      throw err;
    }
  }

  /**
   * The bus lost messages (it reconnected). Every live subscription starts buffering its
   * room frames now — all of them synchronously, before anything is awaited, so none can
   * advance its lastSeq past the loss on a fresh live frame. GatewayCore.resync then reads
   * the store once per conversation and offers the events to each target (deliver():
   * seq filter and `left` check), and finish() flushes the buffer: the same no-hole,
   * no-duplicate switch as subscribe. Subscriptions not live yet resync once they are.
   */
  beginResync(): ResyncTarget[] {
    if (this.closing) return [];
    const targets: ResyncTarget[] = [];
    for (const sub of this.subs.values()) {
      if (sub.state === 'live') {
        sub.state = 'resyncing';
        targets.push(this.resyncTarget(sub));
      } else {
        sub.resyncAgain = true;
      }
    }
    return targets;
  }

  private resyncTarget(sub: Subscription): ResyncTarget {
    const current = () => this.subs.get(sub.conversation) === sub && !this.closing;
    return {
      tenant: this.tenant,
      conversation: sub.conversation,
      get since() {
        return sub.lastSeq;
      },
      offer: (frames) => {
        for (const f of frames) {
          if (!current()) return false;
          this.deliver(sub, f);
        }
        return current();
      },
      finish: () => this.goLive(sub),
    };
  }

  /**
   * Ends a replay or a resync: flushes the room frames buffered meanwhile (the seq filter
   * drops what was already written). If the bus was lost during it, resyncs again first.
   */
  private goLive(sub: Subscription): void {
    if (this.subs.get(sub.conversation) !== sub || this.closing) return;
    if (sub.resyncAgain) {
      sub.resyncAgain = false;
      sub.state = 'resyncing';
      void this.core.resync([this.resyncTarget(sub)]);
      return;
    }
    sub.state = 'live';
    const buffered = sub.buffer;
    sub.buffer = [];
    for (const f of buffered) {
      if (this.subs.get(sub.conversation) !== sub || this.closing) break;
      this.deliver(sub, f);
    }
  }

  /**
   * Waits until the queue is below half the soft mark. A reader that does not
   * drain within closeGraceMs is a slow consumer. False: the session closed.
   */
  private async paced(): Promise<boolean> {
    const { opts } = this.core;
    const deadline = Date.now() + opts.closeGraceMs;
    while (this.sink.bufferedAmount() > opts.softMarkBytes / 2) {
      if (this.closing) return false;
      if (Date.now() > deadline) {
        this.slowConsumer();
        return false;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    return !this.closing;
  }

  /** A live room frame: events are filtered by seq (idempotent: at-least-once bus). */
  private deliver(sub: Subscription, f: TopicFrame): void {
    if (f.type === 'event' && f.seq !== null) {
      if (f.seq <= sub.lastSeq) return;
      sub.lastSeq = f.seq;
      this.emitFrame(f, { conversation: sub.conversation, seq: f.seq });
      // Losing membership ends the subscription after the `left` event itself. A `left` at or
      // below the seq where membership was confirmed is history: the user was re-added since.
      if (f.seq > sub.memberAt && f.left?.includes(this.user))
        this.unsubscribe(sub.conversation, 'NOT_A_MEMBER');
      return;
    }
    this.emitFrame(f, null);
  }

  unsubscribe(conversation: string, code: ErrorCode | 'UNSUBSCRIBED'): void {
    const sub = this.subs.get(conversation);
    if (sub) this.dropSub(sub);
    this.send({ type: 'unsubscribed', conversation, code });
  }

  private dropSub(sub: Subscription): void {
    if (this.subs.get(sub.conversation) === sub) this.subs.delete(sub.conversation);
    for (const u of sub.unlisten) u();
    sub.unlisten = [];
    sub.buffer = [];
    sub.state = 'pending';
  }

  // ---- presence, typing, viewing ------------------------------------------

  private entry(nowMs: number): PresenceEntry {
    return {
      user_id: this.user,
      device_id: this.device,
      status: this.status,
      resource: this.resource,
      last_seen_ms: nowMs,
    };
  }

  async heartbeat(status: PresenceStatus | undefined, resource: string | undefined): Promise<void> {
    const { core } = this;
    const now = core.opts.now();
    if (status) this.status = status;
    if (resource !== undefined) this.resource = resource;
    const { changed } = await core.presence.heartbeat(
      this.tenant,
      this.user,
      this.device,
      this.status,
      this.resource,
      now,
    );
    if (changed) {
      for (const sub of this.subs.values())
        if (isLive(sub) && sub.presence) core.queuePresence(this.tenant, sub.conversation, this.entry(now));
    }
    // Keep the viewing registry's TTL alive while the client heartbeats.
    if (this.viewing) await core.opts.deps.viewing.set(this.tenant, this.user, this.device, this.viewing);
  }

  private async presenceOnSubscribe(conversation: string, memberCount: number): Promise<void> {
    const { core } = this;
    // Large rooms get no presence at all: every heartbeat would go to every member.
    if (memberCount > core.opts.presenceSnapshotMax) return;
    const sub = this.subs.get(conversation);
    if (sub) sub.presence = true;
    core.queuePresence(this.tenant, conversation, this.entry(core.opts.now()));
    const entries = await core.presenceSnapshot(this.tenant, conversation);
    if (entries.length > 0 && isLive(this.subs.get(conversation))) {
      this.send({ type: 'presence', conversation, entries }, 'presence');
    }
  }

  private async typing(conversation: string): Promise<void> {
    const { core } = this;
    const sub = this.subs.get(conversation);
    if (!sub || !isLive(sub))
      throw new HeraldError('BAD_REQUEST', 'Subscribe to the conversation before typing.');
    const now = core.opts.now();
    if (now - sub.lastTypingMs < core.opts.typingIntervalMs) return;
    sub.lastTypingMs = now;
    await core.typing.set(this.tenant, conversation, this.user, now);
    // Ephemeral: straight onto the bus, never PostgreSQL.
    const frame: ServerFrame = {
      type: 'typing',
      conversation,
      user_id: this.user,
      ttl_ms: core.typing.ttlMs,
    };
    await core.opts.bus.publish(topics.ephemeral(this.tenant, conversation), JSON.stringify(frame));
  }

  private async view(conversation: string | null): Promise<void> {
    const { core } = this;
    if (conversation !== null && !isLive(this.subs.get(conversation))) {
      const access = await core.access(this.tenant, conversation, this.user);
      if (!access) throw new HeraldError('CONVERSATION_NOT_FOUND');
      if (!access.allowed) throw new HeraldError('NOT_A_MEMBER');
    }
    this.viewing = conversation;
    await core.opts.deps.viewing.set(this.tenant, this.user, this.device, conversation);
  }

  // ---- outgoing queue and backpressure --------------------------------------

  /** Sends a frame built for this session alone (acks, errors, control). */
  send(frame: ServerFrame, priority: Priority = 'message'): void {
    if (this.closing) return;
    const text = JSON.stringify(frame);
    if (!this.admit(text.length)) return;
    if (this.degraded && sheddable(priority)) {
      if (frame.type === 'presence') {
        this.coalescePresence(frame.conversation, frame.entries);
        this.core.metrics.record({ name: 'frame_coalesced', priority });
      } else this.core.metrics.record({ name: 'frame_dropped', priority });
      return;
    }
    this.sink.write(text, null, null);
  }

  /** A frame shared by every session of a topic: its pre-rendered bytes are written as they are. */
  private emitFrame(f: TopicFrame, cursor: { conversation: string; seq: number } | null): void {
    if (this.closing || !this.admit(f.buf.length)) return;
    if (this.degraded && sheddable(f.priority)) {
      // Coalesced from the hub's parse of the frame: nothing is parsed per session.
      let coalesced = true;
      if (f.type === 'receipt' && f.conversation !== null && f.userId !== null && f.seq !== null) {
        const key = `${f.conversation}\0${f.userId}`;
        const prev = this.pendingReceipts.get(key);
        // Latest wins, equal seqs included: a delivered-only receipt keeps the read seq and
        // moves delivered_seq, and a topic's frames arrive in commit order.
        if (!prev || (prev.seq ?? 0) <= f.seq) this.pendingReceipts.set(key, f);
      } else if (f.type === 'presence' && f.entries) this.coalescePresence(f.conversation, f.entries);
      else coalesced = false;
      this.core.metrics.record({
        name: coalesced ? 'frame_coalesced' : 'frame_dropped',
        priority: f.priority,
      });
      return;
    }
    this.sink.write(f.text, f, cursor);
  }

  /**
   * The bounded queue: the transport's buffered bytes are the queue. Over the
   * soft mark typing is shed and presence/receipts coalesce per key (latest
   * wins) until it drains; over the hard mark the connection is cut with
   * SLOW_CONSUMER — nothing is dropped silently, the client resumes by seq.
   * False: the frame must not be written (the session is closing).
   */
  private admit(bytes: number): boolean {
    const { core } = this;
    const queued = this.sink.bufferedAmount();
    if (queued + bytes > core.opts.hardMarkBytes) {
      this.slowConsumer();
      return false;
    }
    if (!this.degraded && queued + bytes > core.opts.softMarkBytes) {
      this.degraded = true;
      core.degraded.add(this);
      // Ahead of the backlog: the reader learns it is behind as soon as it reads anything.
      this.sink.urgent(DEGRADED);
    }
    return true;
  }

  /**
   * Cuts the connection as a slow consumer: the frames still queued in user space are
   * dropped (the client resumes them by seq) and the close reason is sent ahead of them,
   * right behind the bytes already in flight to the kernel.
   */
  private slowConsumer(): void {
    if (this.closing) return;
    this.closing = true;
    this.releaseSubscriptions();
    const discarded = this.sink.cut(CLOSE.SLOW_CONSUMER, 'slow consumer');
    this.core.metrics.record({ name: 'slow_consumer', discardedBytes: discarded });
  }

  private coalescePresence(conversation: string | null, entries: readonly PresenceEntry[]): void {
    const room = conversation ?? '';
    let m = this.pendingPresence.get(room);
    if (!m) {
      m = new Map();
      this.pendingPresence.set(room, m);
    }
    for (const e of entries) m.set(`${e.user_id}\0${e.device_id}`, e);
  }

  /** Called by the gateway's maintenance tick while degraded. */
  checkRecovered(): boolean {
    if (this.closing) return true;
    if (this.sink.bufferedAmount() > this.core.opts.softMarkBytes / 2) return false;
    this.degraded = false;
    const receipts = [...this.pendingReceipts.values()];
    this.pendingReceipts.clear();
    for (const r of receipts) this.emitFrame(r, null);
    const rooms = [...this.pendingPresence];
    this.pendingPresence.clear();
    for (const [room, m] of rooms) {
      this.send(
        { type: 'presence', conversation: room === '' ? null : room, entries: [...m.values()] },
        'presence',
      );
    }
    return true;
  }

  // ---- lifecycle ------------------------------------------------------------

  /** Closes the connection (once); the transport calls dispose() when it is gone. */
  close(code: number, reason: string): void {
    if (this.closing) return;
    this.closing = true;
    this.releaseSubscriptions();
    this.sink.close(code, reason);
  }

  private releaseSubscriptions(): void {
    for (const sub of [...this.subs.values()]) this.dropSub(sub);
    this.personalUnlisten?.();
    this.personalUnlisten = null;
    if (this.expiringTimer) clearTimeout(this.expiringTimer);
  }

  /** The connection is gone: release everything. Presence is left to age out (disconnect is not trusted). */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.closing = true;
    this.releaseSubscriptions();
    this.core.degraded.delete(this);
    const { core } = this;
    try {
      await core.connections.unregister(this.tenant, this.id);
      if (this.viewing) await core.opts.deps.viewing.set(this.tenant, this.user, this.device, null);
    } catch (err) {
      core.opts.log?.warn({ err, connection: this.id }, 'session cleanup failed');
    }
  }

  private async unregister(): Promise<void> {
    try {
      await this.core.connections.unregister(this.tenant, this.id);
    } catch (err) {
      this.core.opts.log?.warn({ err, connection: this.id }, 'session cleanup failed');
    }
  }
}
