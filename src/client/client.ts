// HeraldClient: one WebSocket with an explicit state machine, plus the HTTP
// catch-up it needs. States and the only legal moves between them:
//
//   disconnected ──connect()──► connecting ──welcome──► connected
//        ▲                          │                       │ close (reconnect | refresh), drain,
//        │ disconnect(),            │ close, no welcome     │ no pong, token renewed (renewInPlace: false)
//        │ close with 'stop' code   ▼                       ▼
//        └──────────────────── reconnecting ◄───────────────┘
//                                   │ backoff timer → dial … welcome
//                                   └──────────────► connected
//
// What a close code means is decided by closeAction() in src/protocol, not here.
import { CLOSE, closeAction } from '../protocol/close-codes.ts';
import { isRetryable } from '../protocol/errors.ts';
import {
  type ClientFrame,
  PROTOCOL_VERSION,
  type PresenceEntry,
  type PresenceStatus,
  type ServerFrame,
} from '../protocol/frames.ts';
import type { InboxEntry, Message, Notice } from '../protocol/model.ts';
import { fullJitterDelay } from './backoff.ts';
import { DeliveryAcks } from './delivery-acks.ts';
import { Emitter } from './emitter.ts';
import { HeraldClientError } from './errors.ts';
import { isTransportFailure, type Transport, TransportPolicy } from './fallback.ts';
import { HeraldHttp, type NoticeFlags } from './http.ts';
import { InboxStore } from './inbox-store.ts';
import { type KindActions, kindActions } from './kind-actions.ts';
import { NoticeStore } from './notice-store.ts';
import type {
  ConnectionState,
  HeraldClientEvents,
  HeraldClientOptions,
  StateChange,
  TokenRequest,
  WelcomeInfo,
} from './options.ts';
import { Outbox, OutgoingMessage, type SendOptions, type SentMessage } from './outbox.ts';
import { Pacer } from './pacer.ts';
import { Persistence } from './persistence.ts';
import { frameText, OPEN, type WebSocketConstructor, type WebSocketLike } from './socket.ts';
import { httpLimits, SSE_MAX_CONVERSATIONS, SseSocket, sseUrl } from './sse-transport.ts';
import { defaultStorage, type StoredConversation, type StoredIdentity } from './storage.ts';
import { type AppliedEvent, ENDS_SUBSCRIPTION, Subscription } from './subscription.ts';
import { realTimers, type Timers } from './timers.ts';
import { jwtExpiryMs, normaliseEpoch, TokenKeeper } from './token-keeper.ts';
import { TypingTracker } from './typing.ts';
import { randomId } from './uuid.ts';
import { expandEvent } from './wire.ts';

/** One cursor-synced store's sync loop: the run in progress, asked again meanwhile, retries. */
interface SyncState {
  running: Promise<void> | null;
  again: boolean;
  /** Consecutive failures of the background sync (its retry backoff). */
  failures: number;
}

/**
 * A read marker until the server reflects it: queued (to write on this or the next socket), sent
 * (written, unconfirmed: back to queued if the socket dies), done (the server has it, or refused
 * it for good).
 */
interface PendingRead {
  seq: number;
  state: 'queued' | 'sent' | 'done';
  /** After a retryable error: not before this time. */
  notBefore: number;
}

/** The window of a `TOO_MANY_CONNECTIONS` (4004) backoff starts this many doublings later. */
const LONG_BACKOFF_SHIFT = 4;

export type {
  ConnectionState,
  HeraldClientEvents,
  HeraldClientOptions,
  StateChange,
  TokenRequest,
  WelcomeInfo,
};

const TRANSITIONS: Record<ConnectionState, readonly ConnectionState[]> = {
  disconnected: ['connecting'],
  connecting: ['connected', 'reconnecting', 'disconnected'],
  connected: ['reconnecting', 'disconnected'],
  reconnecting: ['connected', 'disconnected'],
};

export class HeraldClient extends Emitter<HeraldClientEvents> {
  readonly http: HeraldHttp;
  /** The kinds' actions on a message: `kinds.reactions.react(conversation, messageId, { emoji })`. */
  readonly kinds: KindActions;
  readonly inbox = new InboxStore();
  readonly notices = new NoticeStore();
  readonly deviceId: string;

  private _state: ConnectionState = 'disconnected';
  private _welcome: WelcomeInfo | null = null;
  private readonly tokens: TokenKeeper;
  private ws: WebSocketLike | null = null;
  /** Bumped whenever a socket is abandoned, so its late callbacks are ignored. */
  private gen = 0;
  private attempt = 0;
  private drainDueAt: number | null = null;
  private readonly timerHandles = new Map<string, unknown>();
  private readonly subs = new Map<string, Subscription>();
  private readonly outbox = new Outbox((m) =>
    this.persistence?.push({ op: 'deleteSend', client_id: m.client_id }),
  );
  /** Write-behind to the offline storage; null with `storage: false`. */
  private readonly persistence: Persistence | null;
  /** Conversations found in storage and not opened yet: seeded by open(). */
  private readonly stored = new Map<string, StoredConversation>();
  private storedIdentity: StoredIdentity | null = null;
  /** Sends and reads that came from storage (dropped if the storage was another user's). */
  private readonly restoredSends = new Set<string>();
  private readonly restoredReads = new Map<string, number>();
  private lastSendOrder = 0;
  private _restored: Promise<void>;
  /** Set by disconnect()/stop: the next connect() brings back the sends kept in storage. */
  private reloadSends = false;
  private readonly reads = new Map<string, PendingRead>();
  /** Per conversation, the highest last_read_seq the server has shown us. */
  private readonly serverRead = new Map<string, number>();
  /** Conversations whose `subscribe` must still be written on this connection, in order. */
  private readonly toSubscribe = new Set<string>();
  /** Consecutive retryable refusals of a subscribe, per conversation. */
  private readonly resubscribes = new Map<string, number>();
  private readonly pacer: Pacer;
  /** After a retryable `error` for a send: no send before this time. */
  private sendsPausedUntil = 0;
  private sendRetries = 0;
  private readRetries = 0;
  private viewRetries = 0;
  /** room ('' = the user-level roster) → user_id + device_id → the device's latest entry. */
  private readonly presenceByRoom = new Map<string, Map<string, PresenceEntry>>();
  private viewing: string | null = null;
  private status: PresenceStatus = 'active';
  private resource: string | undefined;
  private awaitingPong = false;
  /** The socket generation that got its welcome (paced writes wait for it). */
  private welcomedGen = -1;
  /** The `view` to restate on this connection, after its subscribes. */
  private viewPending = false;
  private readonly inboxSync: SyncState = { running: null, again: false, failures: 0 };
  private readonly noticesSync: SyncState = { running: null, again: false, failures: 0 };
  /** Bumped by disconnect()/stop: sync loops started before it stop paging. */
  private syncEpoch = 0;
  private readonly typingTracker: TypingTracker;
  private readonly deliveryAcks: DeliveryAcks;
  private readonly timers: Timers;
  private readonly random: () => number;
  private readonly WS: WebSocketConstructor;
  /** WebSocket, or SSE + HTTP when WebSockets are blocked (fallback.ts). */
  private readonly policy: TransportPolicy;
  /** The transport of the current dial, and of the last welcomed connection. */
  private dialTransport: Transport = 'websocket';
  private welcomedTransport: Transport | null = null;
  /** Open conversations the current SSE stream could not carry (over the server's per-stream cap). */
  private beyondSseCap: string[] = [];

  constructor(private readonly opts: HeraldClientOptions) {
    super();
    this.timers = opts.timers ?? realTimers;
    this.random = opts.random ?? Math.random;
    const WS = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WS)
      throw new Error('No WebSocket available: pass the `WebSocket` option (e.g. from the `ws` package).');
    this.WS = WS;
    this.tokens = new TokenKeeper(opts.token, opts.getToken);
    this.policy = new TransportPolicy(opts.fallback);
    this.pacer = new Pacer(this.timers.now());
    this.deviceId = opts.deviceId ?? randomId();
    this.http = new HeraldHttp({
      baseUrl: opts.url,
      fetch: opts.fetch,
      timeoutMs: opts.requestTimeoutMs,
      token: () => this.tokens.current,
      refreshToken: opts.getToken ? () => this.tokens.refresh('expired') : undefined,
      readMarked: (entry) => this.serverEntry(entry),
    });
    this.kinds = kindActions(this.http);
    this.typingTracker = new TypingTracker(
      this.timers,
      opts.typingThrottleMs ?? 2000,
      opts.typingTtlMs ?? 3000,
      (conversation, users) => this.emit('typing', { conversation, users }),
    );
    this.inbox.on('change', (c) => this.emit('inbox', c));
    this.deliveryAcks = new DeliveryAcks(
      this.timers,
      opts.deliveryAckMs ?? 500,
      (f) => this.welcomedGen === this.gen && this.write(f),
    );
    const storage = opts.storage === undefined ? defaultStorage(opts.token) : opts.storage;
    this.persistence = storage
      ? new Persistence({
          storage,
          snapshot: (c) => this.snapshotOf(c),
          error: (err) => this.emit('error', err),
        })
      : null;
    this._restored = this.restore();
  }

  /**
   * Resolves once what a previous client left in the storage is back: cached timelines, pending
   * sends (in `pending()`), unsent reads. `connect()` waits for it before dialling. Never rejects.
   */
  get restored(): Promise<void> {
    return this._restored;
  }

  get state(): ConnectionState {
    return this._state;
  }
  /** The transport of the current (or last) connection: `websocket`, or `sse` (SSE + HTTP fallback). */
  get transport(): Transport {
    return this.welcomedTransport ?? this.policy.current;
  }
  /** The last welcome (who we are on this connection), or null before the first. */
  get session(): WelcomeInfo | null {
    return this._welcome;
  }

  // ---- connection -------------------------------------------------------------------

  /** Starts connecting; reconnects on its own until disconnect() or a permanent close. */
  connect(): void {
    if (this._state !== 'disconnected') return;
    if (this.reloadSends && this.persistence) {
      // Sends this instance gave up on at disconnect() are still in storage: they go now.
      this.reloadSends = false;
      this._restored = this._restored.then(() => this.reloadPendingSends());
    }
    this.attempt = 0;
    this.setState({ from: this._state, to: 'connecting' });
    void this.dial();
  }

  /**
   * Closes the socket and stops reconnecting. Unconfirmed sends fail with DISCONNECTED (their
   * `done` rejects) but stay in the storage: the next connect(), or the next client over the same
   * storage, sends them with their client_id. clearStorage() drops them.
   */
  disconnect(): void {
    if (this._state === 'disconnected') return;
    this.abandonSocket(1000, 'client disconnect');
    this.clearAllTimers();
    this.suspendBackgroundWork();
    this.drainDueAt = null;
    this.setState({ from: this._state, to: 'disconnected' });
    this.outbox.failAll(new HeraldClientError('DISCONNECTED'), false);
    this.reloadSends = true;
  }

  /** Resolves once connected (or rejects when the client lands in `disconnected`). */
  ready(): Promise<void> {
    if (this._state === 'connected') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const off = this.on('state', ({ to }) => {
        if (to === 'connected') {
          off();
          resolve();
        } else if (to === 'disconnected') {
          off();
          reject(new HeraldClientError('DISCONNECTED'));
        }
      });
    });
  }

  // ---- conversations ----------------------------------------------------------------

  /**
   * Follows a conversation: subscribes now (or on the next connect) and after every reconnect
   * resubscribes with since_seq = its last applied seq. Pass `sinceSeq` to resume from storage.
   */
  open(conversation: string, opts: { sinceSeq?: number } = {}): Subscription {
    const existing = this.subs.get(conversation);
    if (existing && existing.status !== 'closed') return existing;
    const sub = new Subscription(conversation, opts.sinceSeq, {
      fetchEvents: (c, after, limit, signal) => this.http.events(c, after, limit, { signal }),
      fetchMessages: (c, before, limit) => this.http.messages(c, { beforeSeq: before, limit }),
      applied: (e) => this.onApplied(e),
      viewer: () => this._welcome?.user_id ?? null,
      error: (err) => this.backgroundError(err),
      unsubscribe: (c) => {
        this.keepSnapshot(c);
        this.subs.delete(c);
        this.presenceByRoom.delete(c);
        this.write({ type: 'unsubscribe', conversation: c });
      },
      retryDelay: (n) => this.backoffDelay(n),
      timers: this.timers,
      pageSize: this.opts.pageSize ?? 200,
      replaySettleMs: this.opts.replaySettleMs ?? 2000,
      maxMessages: this.opts.maxMessages ?? 500,
    });
    this.subs.set(conversation, sub);
    this.resubscribes.delete(conversation);
    sub.on('closed', ({ code }) => {
      // Ended by the server (not a member any more…): nothing of it may be shown after a reload.
      if (code !== 'UNSUBSCRIBED') this.forgetConversation(conversation);
    });
    this.seed(sub);
    if (this._state === 'connected') {
      this.toSubscribe.add(conversation);
      this.flush();
    }
    return sub;
  }

  subscription(conversation: string): Subscription | undefined {
    return this.subs.get(conversation);
  }

  /** Optimistic send: returns at once with a client_id; `done` settles on ack/event or error. */
  send(conversation: string, body: string, opts: SendOptions = {}): OutgoingMessage {
    const { client_id, ...rest } = opts;
    const id = client_id ?? this.opts.createClientId?.() ?? randomId();
    const m = new OutgoingMessage(id, conversation, body, rest);
    this.outbox.add(m);
    this.persistence?.push({
      op: 'putSend',
      send: { client_id: id, conversation, body, options: rest, order: this.nextSendOrder() },
    });
    this.typingTracker.resetThrottle(conversation);
    if (this._state === 'connected') this.flush();
    return m;
  }

  /** Unconfirmed sends (queued or in flight), oldest first. */
  pending(conversation?: string): OutgoingMessage[] {
    return this.outbox.list(conversation);
  }

  /**
   * Marks read up to seq (coalesced: only a higher seq goes out). At least once: the latest read
   * per conversation is written again after every reconnect until the server reflects it (an
   * `inbox` entry, own `receipt` or HTTP read answer with last_read_seq >= seq).
   */
  read(conversation: string, seq: number): void {
    const prev = this.reads.get(conversation);
    if (prev && prev.seq >= seq) return;
    const known = (this.serverRead.get(conversation) ?? -1) >= seq;
    this.reads.set(conversation, { seq, state: known ? 'done' : 'queued', notBefore: 0 });
    if (!known) this.persistence?.push({ op: 'putRead', read: { conversation, seq } });
    this.inbox._markReadLocally(conversation, seq);
    if (!known && this._state === 'connected') this.flush();
  }

  /** Tells the server which conversation is on screen, so its messages arrive already read. */
  view(conversation: string | null): void {
    this.viewing = conversation;
    if (this._state !== 'connected') return;
    if (this.viewPending)
      this.flush(); // the resume has not restated the view yet: it will, this one
    else this.write({ type: 'view', conversation });
  }

  /**
   * Call on keystrokes; sends at most one `typing` per conversation per throttle window, and only
   * in a conversation whose subscribe this connection has confirmed (the gateway refuses typing
   * before its `subscribed`; right after a reconnect the resubscribe may still be on its way).
   */
  typing(conversation: string): boolean {
    if (this._state !== 'connected') return false;
    if (this.subs.get(conversation)?.status !== 'subscribed' || this.toSubscribe.has(conversation))
      return false;
    if (!this.typingTracker.shouldSend(conversation)) return false;
    return this.write({ type: 'typing', conversation });
  }

  /** Users currently typing in a conversation (indicators expire after ~3 s). */
  typingUsers(conversation: string): string[] {
    return this.typingTracker.users(conversation);
  }

  /** Sets this device's presence status (and resource, e.g. the open page) and heartbeats it. */
  setStatus(status: PresenceStatus, resource?: string): void {
    this.status = status;
    if (resource !== undefined) this.resource = resource;
    if (this._state === 'connected') this.write(this.heartbeatFrame());
  }

  /**
   * Devices present in a conversation (null: the user-level roster), one entry per
   * user_id + device_id: the subscribe snapshot merged with every delta since. A device reported
   * `offline` is dropped. Forgotten on each new connection (the server re-sends the snapshot on
   * resubscribe) and when the conversation is closed.
   */
  presence(conversation: string | null = null): PresenceEntry[] {
    const room = this.presenceByRoom.get(conversation ?? '');
    return room ? [...room.values()] : [];
  }

  /** Syncs the inbox store now (it also syncs after every connect). */
  async syncInbox(): Promise<void> {
    await this.pagedSync(this.inboxSync, async () => {
      const page = await this.http.inbox(this.inbox.cursor, this.opts.inboxPageSize ?? 200);
      return {
        apply: () => {
          for (const e of page.entries) this.settleRead(e.conversation_id, e.last_read_seq);
          this.inbox._applyPage(page);
        },
        more: page.has_more && page.entries.length > 0,
      };
    });
  }

  /**
   * Syncs the notices store now (it also syncs after every connect): GET /v1/notices?since=<cursor>
   * while has_more. Notices this client had not seen are emitted as `notice`, except the backlog
   * found by the very first sync (read that from `notices.list()`).
   */
  async syncNotices(): Promise<void> {
    await this.pagedSync(this.noticesSync, async () => {
      const backlog = !this.notices.synced;
      const page = await this.http.notices(this.notices.cursor, this.opts.noticesPageSize ?? 200);
      return {
        apply: () => {
          const fresh = this.notices._applyPage(page);
          if (!backlog) for (const n of fresh) this.emit('notice', n);
        },
        more: page.has_more && page.notices.length > 0,
      };
    });
  }

  /**
   * Pages a cursor-synced store until the server has nothing more. One sync at a time per store: a
   * request while one runs makes it go again afterwards (it may have been answered before the latest
   * changes), and shares its outcome. A disconnect meanwhile stops the paging (the next welcome asks
   * again).
   */
  private pagedSync(
    state: SyncState,
    fetchPage: () => Promise<{ apply: () => void; more: boolean }>,
  ): Promise<void> {
    if (state.running) {
      state.again = true;
      return state.running;
    }
    const run = (async () => {
      do {
        state.again = false;
        const epoch = this.syncEpoch;
        for (;;) {
          const page = await fetchPage();
          if (epoch !== this.syncEpoch) break; // stale: dropped (a newer request may go again)
          page.apply();
          if (!page.more) break;
        }
      } while (state.again);
    })();
    state.running = run;
    return run.finally(() => {
      if (state.running === run) state.running = null;
    });
  }

  /**
   * The sync after a connect, retried with backoff (full jitter, or the server's Retry-After if
   * longer) until it succeeds, the next welcome starts a new one, or the client disconnects.
   */
  private syncInBackground(which: 'inbox' | 'notices'): void {
    const state = which === 'inbox' ? this.inboxSync : this.noticesSync;
    const timer = `sync:${which}`;
    this.clearTimer(timer);
    const epoch = this.syncEpoch;
    const run = which === 'inbox' ? this.syncInbox() : this.syncNotices();
    run.then(
      () => {
        if (epoch === this.syncEpoch) state.failures = 0;
      },
      (err) => {
        if (epoch !== this.syncEpoch || this._state === 'disconnected') return;
        const e = toClientError(err, 'NETWORK_ERROR');
        this.backgroundError(e);
        const delay = Math.max(e.retryAfterMs ?? 0, this.backoffDelay(state.failures++));
        this.setTimer(timer, delay, () => this.syncInBackground(which));
      },
    );
  }

  /** Flags your copy of a notice (PATCH /v1/notices/{id}) and applies the server's answer to `notices`. */
  async markNotice(id: string, flags: NoticeFlags): Promise<Notice> {
    const { notice } = await this.http.markNotice(id, flags);
    this.notices._applyFrame(notice);
    return notice;
  }

  // ---- offline storage ---------------------------------------------------------------

  /** Writes what is queued for the storage now; resolves once it is stored (e.g. on `pagehide`). */
  async persisted(): Promise<void> {
    await this.restored;
    await this.persistence?.flush();
  }

  /** Forgets everything in the storage: cached timelines, positions, unsent sends and reads (logout). */
  async clearStorage(): Promise<void> {
    await this.restored;
    this.stored.clear();
    this.storedIdentity = null;
    await this.persistence?.clear();
  }

  /** Brings back what a previous client over the same storage left; never rejects. */
  private async restore(): Promise<void> {
    if (!this.persistence) return;
    const s = await this.persistence.load();
    this.storedIdentity = s.identity;
    for (const c of s.conversations) {
      if (c && typeof c.conversation === 'string' && Number.isSafeInteger(c.last_seq))
        this.stored.set(c.conversation, { ...c, messages: Array.isArray(c.messages) ? c.messages : [] });
    }
    // Sends made before the reload go first, in the order they were made, with their client_id:
    // the server is idempotent on it, so one that had reached it comes back as the original.
    const sends: OutgoingMessage[] = [];
    for (const p of s.pending) {
      if (!p || typeof p.client_id !== 'string' || typeof p.conversation !== 'string') continue;
      sends.push(new OutgoingMessage(p.client_id, p.conversation, String(p.body ?? ''), p.options ?? {}));
      this.restoredSends.add(p.client_id);
      this.lastSendOrder = Math.max(this.lastSendOrder, Number(p.order) || 0);
    }
    this.outbox.restore(sends);
    for (const r of s.reads) {
      if (!r || typeof r.conversation !== 'string' || !Number.isSafeInteger(r.seq)) continue;
      this.restoredReads.set(r.conversation, r.seq);
      this.read(r.conversation, r.seq);
    }
    for (const sub of this.subs.values()) this.seed(sub);
    if (this._state === 'connected') this.flush();
  }

  /** After disconnect(): the sends still in storage (this user's) back in the outbox, oldest first. */
  private async reloadPendingSends(): Promise<void> {
    if (!this.persistence) return;
    await this.persistence.flush(); // sends confirmed just before disconnect() are gone first
    const s = await this.persistence.load();
    const sends = s.pending
      .filter((p) => p && typeof p.client_id === 'string' && !this.outbox.get(p.client_id))
      .map((p) => new OutgoingMessage(p.client_id, p.conversation, String(p.body ?? ''), p.options ?? {}));
    this.outbox.restore(sends);
    if (this._state === 'connected') this.flush();
  }

  /** Seeds a subscription from its stored record (position and cached messages), once. */
  private seed(sub: Subscription): void {
    const rec = this.stored.get(sub.conversation);
    if (!rec) return;
    this.stored.delete(sub.conversation);
    sub._restore(rec.last_seq, rec.messages);
  }

  /** What storage keeps of a conversation: an open one's position and newest messages. */
  private snapshotOf(conversation: string): StoredConversation | undefined {
    const snap = this.subs.get(conversation)?._snapshot(this.opts.cacheMessages ?? 200);
    return snap ? { conversation, ...snap } : undefined;
  }

  /** Closed by the host: keep its position and cache for the next open() (or reload). */
  private keepSnapshot(conversation: string): void {
    const snap = this.snapshotOf(conversation);
    if (snap) {
      this.persistence?.push({ op: 'putConversation', conversation: snap });
      this.stored.set(conversation, snap);
    }
  }

  private forgetConversation(conversation: string): void {
    this.stored.delete(conversation);
    this.persistence?.forget(conversation);
  }

  private readDone(conversation: string, r: PendingRead): void {
    r.state = 'done';
    this.restoredReads.delete(conversation);
    this.persistence?.push({ op: 'deleteRead', conversation });
  }

  /** Orders sends across reloads: increasing, and after anything restored. */
  private nextSendOrder(): number {
    this.lastSendOrder = Math.max(this.lastSendOrder + 1, Date.now() * 1000);
    return this.lastSendOrder;
  }

  /**
   * The first welcome over a storage says whose it is. If it held another user's (or server's)
   * records, they are cleared and that user's unsent sends and reads are dropped, never sent as
   * this one (STORAGE_OTHER_USER); what this client made meanwhile is written again.
   */
  private checkStorageOwner(w: WelcomeInfo): void {
    if (!this.persistence) return;
    const url = this.opts.url.replace(/\/+$/, '');
    const identity: StoredIdentity = { url, tenant_id: w.tenant_id, user_id: w.user_id };
    const prev = this.storedIdentity;
    this.storedIdentity = identity;
    if (
      prev &&
      prev.url === identity.url &&
      prev.tenant_id === identity.tenant_id &&
      prev.user_id === identity.user_id
    )
      return;
    if (!prev) {
      this.persistence.push({ op: 'putIdentity', identity });
      return;
    }
    const err = new HeraldClientError('STORAGE_OTHER_USER');
    for (const id of this.restoredSends) this.outbox.fail(id, err);
    this.restoredSends.clear();
    for (const [conversation, seq] of this.restoredReads)
      if (this.reads.get(conversation)?.seq === seq) this.reads.delete(conversation);
    this.restoredReads.clear();
    this.stored.clear();
    const persistence = this.persistence;
    void persistence.clear().then(
      () => {
        persistence.push({ op: 'putIdentity', identity });
        for (const [i, m] of this.outbox.list().entries()) {
          const { client_id, conversation, body, options } = m;
          persistence.push({ op: 'putSend', send: { client_id, conversation, body, options, order: i + 1 } });
        }
        for (const [conversation, r] of this.reads)
          if (r.state !== 'done') persistence.push({ op: 'putRead', read: { conversation, seq: r.seq } });
        for (const c of this.subs.keys()) persistence.touch(c);
      },
      () => {}, // reported as STORAGE_FAILED
    );
    this.emit('error', err);
  }

  // ---- socket lifecycle -------------------------------------------------------------

  private async dial(): Promise<void> {
    const gen = ++this.gen;
    await this._restored; // never rejects: a storage failure starts empty
    if (this.dialAbandoned(gen)) return;
    let token: string;
    try {
      token = await this.tokens.forDial(this.timers.now());
    } catch (err) {
      if (gen !== this.gen || this._state === 'disconnected') return;
      const e = toClientError(err, 'TOKEN_REFRESH_FAILED');
      if (!this.opts.getToken) {
        this.stop(e);
        return;
      }
      this.emit('error', e);
      this.onSocketGone(gen, CLOSE.UNAUTHENTICATED, e.message);
      return;
    }
    if (gen !== this.gen || this._state === 'disconnected') return;
    this.dialTransport = this.policy.current;
    if (this.dialTransport === 'sse') {
      this.attachSocket(gen, this.openSse(token));
      return;
    }
    let ws: WebSocketLike;
    // The token rides in the subprotocol list, never in the URL (proxies log URLs). A token that
    // is not a valid subprotocol token (RFC 6455: RFC 7230 tchars) goes in a first `auth` frame.
    const inProtocol = SUBPROTOCOL_TOKEN.test(token);
    try {
      ws = new this.WS(
        this.socketUrl(),
        inProtocol ? [SUBPROTOCOL, `${BEARER_PROTOCOL}${token}`] : [SUBPROTOCOL],
      );
    } catch (err) {
      this.emit('error', toClientError(err, 'NETWORK_ERROR'));
      this.onSocketGone(gen, 1006, 'constructor failed');
      return;
    }
    if (!inProtocol) {
      ws.addEventListener('open', () => {
        if (gen === this.gen) this.write({ type: 'auth', token });
      });
    }
    this.attachSocket(gen, ws);
  }

  /** Listens to a new socket (WebSocket or SSE) and arms the welcome timeout. */
  private attachSocket(gen: number, ws: WebSocketLike): void {
    this.ws = ws;
    ws.addEventListener('message', (ev) => {
      if (gen === this.gen) this.onMessage(ev.data);
    });
    ws.addEventListener('close', (ev) => this.onSocketGone(gen, ev.code ?? 1006, ev.reason ?? ''));
    ws.addEventListener('error', () => {
      // A close event always follows; the close code carries the decision.
    });
    this.setTimer('connect', this.opts.connectTimeoutMs ?? 10_000, () => {
      if (gen === this.gen) this.dropSocket('connect timeout');
    });
  }

  // ---- transport fallback (SSE + HTTP when WebSockets are blocked) -----------------

  /** The SSE stream for the open conversations (the server's cap), each from its last seq. */
  private openSse(token: string): SseSocket {
    const open = [...this.subs.values()].filter((s) => s.status !== 'closed');
    const list = open
      .slice(0, SSE_MAX_CONVERSATIONS)
      .map((s) => ({ conversation: s.conversation, seq: s.lastSeq }));
    this.beyondSseCap = open.slice(SSE_MAX_CONVERSATIONS).map((s) => s.conversation);
    return new SseSocket({
      url: sseUrl(this.opts.url, this.deviceId, list),
      token,
      conversations: list.map((c) => c.conversation),
      beyondCap: this.beyondSseCap,
      fetch: this.opts.fetch ?? ((input, init) => globalThis.fetch(input, init)),
      http: this.http,
    });
  }

  /** A dial ended before its welcome: maybe the transport is blocked (fallback.ts decides). */
  private dialFailed(belowProtocol: boolean): void {
    const from = this.dialTransport;
    if (!this.policy.dialFailed(from, belowProtocol)) return;
    const to = this.policy.current;
    const reason =
      to === 'sse'
        ? 'WebSocket dials keep failing before the protocol starts (blocked?): trying SSE + HTTP'
        : 'SSE keeps failing too: trying WebSocket again';
    this.emit('transport', { from, to, reason, connected: false });
  }

  /** A welcome: note the transport, say when it changed, and probe WebSocket while on SSE. */
  private transportWelcomed(): void {
    const t = this.dialTransport;
    const prev = this.welcomedTransport;
    this.policy.welcomed(t);
    this.welcomedTransport = t;
    if (prev !== null && prev !== t)
      this.emit('transport', {
        from: prev,
        to: t,
        reason: t === 'sse' ? 'connected over SSE + HTTP' : 'connected over WebSocket',
        connected: true,
      });
    else if (prev === null && t === 'sse')
      this.emit('transport', {
        from: 'websocket',
        to: 'sse',
        reason: 'connected over SSE + HTTP',
        connected: true,
      });
    if (t !== 'sse') return;
    if (this.policy.enabled) this.scheduleProbe();
    for (const conversation of this.beyondSseCap)
      this.emit(
        'error',
        new HeraldClientError(
          'SSE_CONVERSATION_LIMIT',
          `Over SSE at most ${SSE_MAX_CONVERSATIONS} conversations are live at once: ${conversation} is not, until the client is back on WebSocket or others close.`,
          { ref: conversation },
        ),
      );
  }

  private scheduleProbe(): void {
    this.setTimer('probe', this.policy.probeDelay(), () => this.probeWebSocket());
  }

  /**
   * While on SSE: does a WebSocket open now? The probe offers no token (the gateway waits for an
   * `auth` frame, and we close first), so it opens no session. If it opens, the client moves back:
   * a `connected → reconnecting → connected` hop that resumes everything, as after any drop.
   */
  private probeWebSocket(): void {
    const gen = this.gen;
    let probe: WebSocketLike;
    try {
      probe = new this.WS(this.socketUrl(), [SUBPROTOCOL]);
    } catch {
      this.policy.probeFailed();
      this.scheduleProbe();
      return;
    }
    let settled = false;
    const done = (opened: boolean) => {
      if (settled) return;
      settled = true;
      this.clearTimer('probe-timeout');
      try {
        probe.close(1000, 'probe');
      } catch {
        // still connecting in some runtimes: it goes anyway
      }
      if (gen !== this.gen || this._state !== 'connected' || this.dialTransport !== 'sse') return;
      if (!opened) {
        this.policy.probeFailed();
        this.scheduleProbe();
        return;
      }
      this.policy.probeSucceeded();
      this.abandonSocket(1000, 'websocket available');
      this.reconnectIn(0, { action: 'reconnect', closeReason: 'WebSocket available again' });
    };
    probe.addEventListener('open', () => done(true));
    probe.addEventListener('close', () => done(false));
    probe.addEventListener('error', () => {});
    this.setTimer('probe-timeout', this.opts.connectTimeoutMs ?? 10_000, () => done(false));
  }

  /** A dial whose socket generation moved on, or that disconnect() overtook. */
  private dialAbandoned(gen: number): boolean {
    return gen !== this.gen || this._state === 'disconnected';
  }

  /**
   * Renews before expiry and hands the new token to the live socket (`auth` frame: the server
   * re-arms its expiry; no reconnect). With `renewInPlace: false` it moves to a new socket instead.
   */
  private async renewToken(): Promise<void> {
    if (!this.tokens.canRefresh) return;
    const wait = this.tokens.renewalWait(this.timers.now());
    if (wait === null) return; // one renewal at a time
    if (wait > 0) {
      // Too soon after the last renewal (or a stale one): once, later.
      this.setTimer('renew', wait, () => void this.renewToken());
      return;
    }
    const gen = this.gen;
    let token: string;
    try {
      const r = await this.tokens.renew(() => this.timers.now(), this.random);
      if (!r.fresh) {
        if (gen === this.gen && this._state === 'connected')
          this.setTimer('renew', r.retryInMs, () => void this.renewToken());
        return;
      }
      token = r.token;
    } catch (err) {
      // The server will close with TOKEN_EXPIRED; that path refreshes again.
      this.emit('error', toClientError(err, 'TOKEN_REFRESH_FAILED'));
      return;
    }
    if (gen !== this.gen || this._state !== 'connected') return;
    if ((this.opts.renewInPlace ?? true) && this.write({ type: 'auth', token })) {
      this.tokens.adoptedBySocket(token);
      // The server announces the next expiry with `token_expiring`; a JWT also tells us itself.
      const exp = jwtExpiryMs(token);
      if (exp !== null) this.scheduleRenewal(exp);
      return;
    }
    this.abandonSocket(1000, 'token renewed');
    this.reconnectIn(0, { action: 'refresh' });
  }

  private socketUrl(): string {
    const base = this.opts.wsUrl ?? `${this.opts.url.replace(/^http/, 'ws').replace(/\/+$/, '')}/v1/ws`;
    const url = new URL(base);
    url.searchParams.set('device_id', this.deviceId);
    url.searchParams.set('v', String(PROTOCOL_VERSION));
    return url.toString();
  }

  /** A socket closed (or never opened): decide between reconnect, refresh and stop. */
  private onSocketGone(gen: number, code: number, reason: string): void {
    if (gen !== this.gen) return;
    // The SSE stream ended itself to reopen with a new conversation or token: at once, no backoff.
    const reopen = this.ws instanceof SseSocket && this.ws.reopen;
    if (this.welcomedGen !== gen) this.dialFailed(isTransportFailure(code));
    this.gen++;
    this.ws = null;
    this.clearConnectionTimers();
    this.requeueUnconfirmed();
    if (this._state === 'disconnected') return;
    let action = closeAction(code);
    let delay: number;
    if (this.drainDueAt !== null) {
      action = 'reconnect';
      delay = Math.max(0, this.drainDueAt - this.timers.now());
      this.drainDueAt = null;
    } else if (action === 'stop') {
      this.stop(new HeraldClientError('CONNECTION_CLOSED', reason || undefined, { closeCode: code }));
      return;
    } else if (reopen) {
      delay = 0;
    } else {
      // An HTTP 401 may already have refreshed the token since this socket opened: reuse it.
      if (action === 'refresh') this.tokens.socketTokenRejected();
      // Over the socket cap: only another socket closing helps, so wait long (half to all of a
      // window LONG_BACKOFF_SHIFT doublings wider than the usual one).
      delay =
        code === CLOSE.TOO_MANY_CONNECTIONS
          ? this.longBackoffDelay(this.attempt++)
          : this.backoffDelay(this.attempt++);
    }
    this.reconnectIn(delay, { closeCode: code, closeReason: reason, action });
  }

  private reconnectIn(delay: number, info: Omit<StateChange, 'from' | 'to' | 'delayMs'>): void {
    if (this._state !== 'reconnecting') {
      this.setState({ from: this._state, to: 'reconnecting', delayMs: delay, ...info });
    }
    if (delay <= 0) void this.dial();
    else this.setTimer('reconnect', delay, () => void this.dial());
  }

  private stop(err: HeraldClientError): void {
    this.abandonSocket(1000, 'stop');
    this.clearAllTimers();
    this.suspendBackgroundWork();
    if (this._state !== 'disconnected') {
      this.setState({ from: this._state, to: 'disconnected', closeCode: err.closeCode, action: 'stop' });
    }
    this.emit('error', err);
    // Kept in storage, as at disconnect(): a reload (an upgraded SDK, a fixed origin) sends them.
    this.outbox.failAll(err, false);
    this.reloadSends = true;
  }

  /** Detaches from the current socket (its events are ignored from now on) and closes it. */
  private abandonSocket(code: number, reason: string): void {
    const ws = this.ws;
    this.gen++;
    this.ws = null;
    this.clearConnectionTimers();
    this.requeueUnconfirmed();
    if (ws) {
      try {
        ws.close(code >= 4000 || code === 1000 ? code : 1000, reason);
      } catch {
        // Closing a socket that is still connecting may throw in some runtimes; it is gone either way.
      }
    }
  }

  /** Stops catch-up retries, replay timers and fills in flight, and any inbox/notices paging. */
  private suspendBackgroundWork(): void {
    this.syncEpoch++;
    for (const sub of this.subs.values()) sub._suspend();
  }

  /** Failures of work the host did not ask for (catch-up, inbox sync): moot once disconnected. */
  private backgroundError(err: HeraldClientError): void {
    if (this._state !== 'disconnected') this.emit('error', err);
  }

  private backoffDelay(attempt: number): number {
    return fullJitterDelay(attempt, this.opts.backoff ?? {}, this.random);
  }

  private longBackoffDelay(attempt: number): number {
    const window = fullJitterDelay(attempt + LONG_BACKOFF_SHIFT, this.opts.backoff ?? {}, () => 1);
    return Math.floor(window / 2 + (this.random() * window) / 2);
  }

  /** The socket is gone: what was written but not confirmed goes again on the next one. */
  private requeueUnconfirmed(): void {
    this.outbox.requeueAll();
    for (const r of this.reads.values()) if (r.state === 'sent') r.state = 'queued';
    this.toSubscribe.clear();
    this.viewPending = false;
  }

  private setState(change: StateChange): void {
    if (!TRANSITIONS[change.from].includes(change.to)) {
      throw new Error(`Illegal client state transition ${change.from} → ${change.to}`);
    }
    this._state = change.to;
    this.emit('state', change);
  }

  // ---- frames -----------------------------------------------------------------------

  private write(frame: ClientFrame): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== OPEN) return false;
    ws.send(JSON.stringify(frame));
    this.pacer.frameWritten(this.timers.now());
    return true;
  }

  /**
   * Writes what waits for this socket at the pace `welcome.limits` allows: subscribes, then reads,
   * then sends (in the order they were made). What cannot go yet goes when the buckets refill.
   */
  private flush(): void {
    this.clearTimer('flush');
    if (this.welcomedGen !== this.gen) return;
    const ws = this.ws;
    if (!ws || ws.readyState !== OPEN) return;
    const now = this.timers.now();
    let wait = 0;
    const later = (ms: number) => {
      wait = wait === 0 ? ms : Math.min(wait, ms);
    };
    for (const conversation of this.toSubscribe) {
      const w = this.pacer.waitMs(now, false);
      if (w > 0) {
        this.flushIn(w);
        return;
      }
      this.toSubscribe.delete(conversation);
      const sub = this.subs.get(conversation);
      if (sub && sub.status !== 'closed') this.write(sub._subscribeFrame());
    }
    if (this.viewPending) {
      const w = this.pacer.waitMs(now, false);
      if (w > 0) {
        this.flushIn(w);
        return;
      }
      this.viewPending = false;
      this.write({ type: 'view', conversation: this.viewing });
    }
    for (const [conversation, r] of this.reads) {
      if (r.state !== 'queued') continue;
      if (r.notBefore > now) {
        later(r.notBefore - now);
        continue;
      }
      const w = this.pacer.waitMs(now, false);
      if (w > 0) {
        this.flushIn(w);
        return;
      }
      if (this.write({ type: 'read', conversation, seq: r.seq })) r.state = 'sent';
    }
    if (this.sendsPausedUntil > now) {
      if (this.outbox.list().some((m) => m.status === 'queued')) later(this.sendsPausedUntil - now);
    } else {
      for (const m of this.outbox.list()) {
        if (m.status !== 'queued') continue;
        const w = this.pacer.waitMs(now, true);
        if (w > 0) {
          this.flushIn(w);
          return;
        }
        if (!this.write(m._frame())) return;
        this.pacer.sendWritten(now);
        m._markSent();
      }
    }
    if (wait > 0) this.flushIn(wait);
  }

  private flushIn(ms: number): void {
    this.setTimer('flush', ms, () => this.flush());
  }

  private onMessage(data: unknown): void {
    this.awaitingPong = false;
    const text = frameText(data);
    let frame: ServerFrame;
    try {
      frame = JSON.parse(text ?? '') as ServerFrame;
    } catch {
      this.emit('error', new HeraldClientError('BAD_REQUEST', 'Unparseable frame from the server.'));
      return;
    }
    if (typeof frame !== 'object' || frame === null || typeof frame.type !== 'string') return;
    this.onFrame(frame);
  }

  private onFrame(frame: ServerFrame): void {
    switch (frame.type) {
      case 'welcome':
        this.onWelcome(frame);
        return;
      case 'subscribed':
        this.resubscribes.delete(frame.conversation);
        this.subs.get(frame.conversation)?._onSubscribed(frame.head_seq, frame.replayed, frame.complete);
        return;
      case 'unsubscribed': {
        // 'UNSUBSCRIBED' answers our own close(), already handled; a re-open may have followed it.
        if (frame.code === 'UNSUBSCRIBED') return;
        const sub = this.subs.get(frame.conversation);
        this.subs.delete(frame.conversation);
        this.deliveryAcks.forget(frame.conversation);
        this.presenceByRoom.delete(frame.conversation);
        sub?._end(frame.code);
        this.emit('error', new HeraldClientError(frame.code, undefined, { ref: frame.conversation }));
        return;
      }
      case 'event': {
        const sub = this.subs.get(frame.conversation);
        sub?._onEvent(
          frame.seq,
          expandEvent(frame.event, this._welcome?.tenant_id ?? '', frame.conversation, frame.seq),
        );
        return;
      }
      case 'ack': {
        const { client_id, conversation, seq, message_id } = frame;
        // Acks go only to the sender's connection; still, it must be for the send's conversation.
        if (this.outbox.get(client_id)?.conversation === conversation)
          this.confirm({ client_id, conversation, seq, message_id });
        return;
      }
      case 'inbox':
        this.settleRead(frame.entry.conversation_id, frame.entry.last_read_seq);
        this.inbox._applyFrame(frame.entry);
        return;
      case 'notice': {
        const fresh = this.notices._applyFrame(frame.notice);
        if (fresh) this.emit('notice', fresh);
        return;
      }
      case 'receipt': {
        // Servers without delivery receipts send none: read implies delivered.
        const delivered_seq = Math.max(frame.delivered_seq ?? 0, frame.seq);
        if (frame.user_id === this._welcome?.user_id) {
          this.settleRead(frame.conversation, frame.seq);
          this.deliveryAcks.known(frame.conversation, delivered_seq);
        }
        const { conversation, user_id, seq } = frame;
        this.emit('receipt', { conversation, user_id, seq, delivered_seq });
        return;
      }
      case 'typing':
        if (frame.user_id !== this._welcome?.user_id)
          this.typingTracker.incoming(frame.conversation, frame.user_id, frame.ttl_ms);
        return;
      case 'presence':
        this.mergePresence(frame.conversation ?? '', frame.entries);
        this.emit('presence', { conversation: frame.conversation, entries: frame.entries });
        return;
      case 'degraded':
        this.emit('degraded', { reason: frame.reason });
        return;
      case 'token_expiring':
        this.tokens.noteExpiry(normaliseEpoch(frame.expires_at));
        void this.renewToken();
        return;
      case 'drain':
        this.onDrain(frame.reconnect_after_ms);
        return;
      case 'error':
        this.onErrorFrame(frame.code, frame.message, frame.ref);
        return;
      case 'pong':
        return;
      default: {
        // A frame type this SDK version does not know: ignore it (forward compatible).
        const unknown: never = frame;
        void unknown;
      }
    }
  }

  private onWelcome(frame: Extract<ServerFrame, { type: 'welcome' }>): void {
    this.clearTimer('connect');
    this.attempt = 0;
    const expiresAtMs = normaliseEpoch(frame.expires_at);
    this.tokens.accepted(expiresAtMs);
    this.welcomedGen = this.gen;
    this.pacer.reset(
      this.dialTransport === 'sse' ? httpLimits(frame.limits) : frame.limits,
      this.timers.now(),
    );
    this.deliveryAcks.resume();
    this._welcome = {
      connection_id: frame.connection_id,
      user_id: frame.user_id,
      tenant_id: frame.tenant_id,
      device_id: frame.device_id ?? this.deviceId,
      heartbeat_ms: frame.heartbeat_ms,
      expires_at_ms: expiresAtMs,
    };
    this.checkStorageOwner(this._welcome);
    // The server sends a presence snapshot on each subscribe below: what we held may be stale.
    this.presenceByRoom.clear();
    // Resume before anything else goes out: subscriptions (with since_seq), what is on screen,
    // reads the server has not reflected, then unconfirmed sends with their original client_id,
    // all paced by flush() within the server's limits.
    this.toSubscribe.clear();
    for (const conversation of this.subs.keys()) this.toSubscribe.add(conversation);
    this.viewPending = this.viewing !== null;
    this.viewRetries = 0;
    this.flush();
    this.startHeartbeat(frame.heartbeat_ms);
    this.startPing();
    if (expiresAtMs !== null) this.scheduleRenewal(expiresAtMs);
    this.transportWelcomed();
    if (this._state !== 'connected') this.setState({ from: this._state, to: 'connected' });
    this.emit('welcome', this._welcome);
    if (this.opts.inbox ?? true) this.syncInBackground('inbox');
    if (this.opts.notices ?? true) this.syncInBackground('notices');
  }

  private onDrain(reconnectAfterMs: number): void {
    const gen = this.gen;
    this.drainDueAt = this.timers.now() + Math.max(0, reconnectAfterMs);
    // The server closes after its wait; if it does not, leave at the hinted time ourselves.
    this.setTimer('drain', Math.max(0, reconnectAfterMs), () => {
      if (gen !== this.gen || this._state !== 'connected') return;
      this.drainDueAt = null;
      this.abandonSocket(1000, 'drain');
      this.reconnectIn(0, { action: 'reconnect', closeCode: CLOSE.DRAIN });
    });
  }

  /**
   * An `error` frame. `ref` names a send (its client_id) or a conversation (a subscribe, read, view
   * or typing of it). Retryable codes (the catalog's `retryable`) are tried again after a backoff
   * delay: the send with its client_id, the subscribe if `subscribed` has not come, the pending
   * read. Other codes fail the send, end the subscription (ENDS_SUBSCRIPTION) or drop the read.
   */
  private onErrorFrame(code: HeraldClientError['code'], message: string, ref?: string): void {
    const err = new HeraldClientError(code, message, { ref });
    const retry = isRetryable(code);
    if (ref !== undefined && this.outbox.get(ref)) {
      if (!retry) {
        this.outbox.fail(ref, err);
        return;
      }
      // Same client_id later: the server is idempotent on it. Hold every send meanwhile (a
      // rate limit or an outage applies to all of them) so they keep their order.
      this.outbox.get(ref)?._requeue();
      const until = this.timers.now() + this.backoffDelay(this.sendRetries++);
      this.sendsPausedUntil = Math.max(this.sendsPausedUntil, until);
      this.flush();
      return;
    }
    if (ref !== undefined) {
      const read = this.reads.get(ref);
      if (read && read.state === 'sent') {
        if (retry) {
          read.state = 'queued';
          read.notBefore = this.timers.now() + this.backoffDelay(this.readRetries++);
          this.flush();
        } else this.readDone(ref, read); // e.g. INVALID_SEQ: this seq can never be marked
      }
      if (retry && ref === this.viewing) this.restateViewLater();
      const sub = this.subs.get(ref);
      if (sub && ENDS_SUBSCRIPTION.has(code)) {
        this.subs.delete(ref);
        this.presenceByRoom.delete(ref);
        sub._end(code);
      } else if (sub && sub.status !== 'closed' && (retry || code === 'INTERNAL')) {
        // The server could not subscribe us this time and serves nothing of the conversation
        // until we ask again (INTERNAL included: no subscription exists behind it). Even when
        // `subscribed`: after close() + open(), the old subscribe's answer arrives first and
        // cannot be told from the new one's; a spare resubscribe only replays what we hold.
        this.resubscribeLater(ref);
      }
    }
    this.emit('error', err);
  }

  /** A subscribe refused for now (STORE_UNAVAILABLE, RATE_LIMITED…): ask again after a backoff. */
  private resubscribeLater(conversation: string): void {
    const n = this.resubscribes.get(conversation) ?? 0;
    this.resubscribes.set(conversation, n + 1);
    const gen = this.gen;
    this.setTimer(`resub:${conversation}`, this.backoffDelay(n), () => {
      const sub = this.subs.get(conversation);
      if (gen !== this.gen || !sub || sub.status === 'closed') return;
      this.toSubscribe.add(conversation);
      this.flush();
    });
  }

  /** A `view` refused for now: state it again after a backoff (the server answers nothing on success). */
  private restateViewLater(): void {
    const gen = this.gen;
    this.setTimer('view', this.backoffDelay(this.viewRetries++), () => {
      if (gen !== this.gen || this.viewing === null) return;
      this.viewPending = true;
      this.flush();
    });
  }

  /** An entry from the server (frame, sync page, HTTP read answer): settles reads, updates the store. */
  private serverEntry(entry: InboxEntry): void {
    this.settleRead(entry.conversation_id, entry.last_read_seq);
    this.inbox._applyFrame(entry);
  }

  /** The server has last_read_seq >= seq: a read up to seq needs no more resending. */
  private settleRead(conversation: string, lastReadSeq: number): void {
    if (typeof lastReadSeq !== 'number') return;
    if (lastReadSeq > (this.serverRead.get(conversation) ?? -1))
      this.serverRead.set(conversation, lastReadSeq);
    const r = this.reads.get(conversation);
    if (r && r.state !== 'done' && lastReadSeq >= r.seq) {
      this.readDone(conversation, r);
      this.readRetries = 0;
    }
  }

  private onApplied(e: AppliedEvent): void {
    this.persistence?.touch(e.conversation);
    this.emit('event', e);
    this.deliveryAcks.applied(e.conversation, e.seq);
    if (e.event.type !== 'message.created') return;
    const message: Message = e.event.message;
    if (message.sender.type === 'user') this.typingTracker.clear(e.conversation, message.sender.user_id);
    // client_id is unique per sender only: someone else's message with the same id confirms nothing.
    const pending = message.client_id ? this.outbox.get(message.client_id) : undefined;
    if (
      message.client_id &&
      pending?.conversation === e.conversation &&
      message.sender.type === 'user' &&
      message.sender.user_id === this._welcome?.user_id
    ) {
      this.confirm({
        client_id: message.client_id,
        conversation: e.conversation,
        seq: e.seq,
        message_id: message.id,
        message,
      });
    }
  }

  /** Applies a snapshot or a batch of deltas: entries replace per device, `offline` removes. */
  private mergePresence(room: string, entries: PresenceEntry[]): void {
    let devices = this.presenceByRoom.get(room);
    if (!devices) {
      devices = new Map();
      this.presenceByRoom.set(room, devices);
    }
    for (const p of entries) {
      const key = `${p.user_id}\u0000${p.device_id}`;
      if (p.status === 'offline') devices.delete(key);
      else devices.set(key, p);
    }
  }

  private confirm(result: SentMessage): void {
    if (this.outbox.confirm(result.client_id, result)) {
      this.sendRetries = 0;
      this.emit('sent', result);
    }
  }

  // ---- timers -----------------------------------------------------------------------

  private heartbeatFrame(): ClientFrame {
    return this.resource === undefined
      ? { type: 'heartbeat', status: this.status }
      : { type: 'heartbeat', status: this.status, resource: this.resource };
  }

  private scheduleRenewal(expiresAtMs: number): void {
    const delay = this.tokens.renewalDelay(
      expiresAtMs,
      this.timers.now(),
      this.opts.refreshBeforeMs ?? 60_000,
    );
    if (delay !== null) this.setTimer('renew', delay, () => void this.renewToken());
  }

  private startHeartbeat(intervalMs: number): void {
    if (!(this.opts.heartbeat ?? true)) return;
    this.write(this.heartbeatFrame());
    if (!(intervalMs > 0)) return;
    const tick = () => {
      this.write(this.heartbeatFrame());
      this.setTimer('heartbeat', intervalMs, tick);
    };
    this.setTimer('heartbeat', intervalMs, tick);
  }

  private startPing(): void {
    const interval = this.opts.pingIntervalMs ?? 25_000;
    if (!(interval > 0)) return;
    this.awaitingPong = false;
    const gen = this.gen;
    const tick = () => {
      if (gen !== this.gen) return;
      if (this.awaitingPong) {
        // Nothing at all arrived for a whole interval after our ping: the socket is dead.
        this.dropSocket('no pong');
        return;
      }
      this.awaitingPong = this.write({ type: 'ping' });
      this.setTimer('ping', interval, tick);
    };
    this.setTimer('ping', interval, tick);
  }

  /** We give up on a socket that looks dead (no welcome, no pong): close it and redial with backoff. */
  private dropSocket(reason: string): void {
    if (this.welcomedGen !== this.gen) this.dialFailed(true);
    this.abandonSocket(CLOSE.IDLE_TIMEOUT, reason);
    const delay = this.backoffDelay(this.attempt++);
    this.reconnectIn(delay, { closeCode: CLOSE.IDLE_TIMEOUT, closeReason: reason, action: 'reconnect' });
  }

  private setTimer(name: string, ms: number, fn: () => void): void {
    this.clearTimer(name);
    const handle = this.timers.setTimeout(() => {
      if (this.timerHandles.get(name) === handle) this.timerHandles.delete(name);
      fn();
    }, ms);
    this.timerHandles.set(name, handle);
  }

  private clearTimer(name: string): void {
    const h = this.timerHandles.get(name);
    if (h !== undefined) this.timers.clearTimeout(h);
    this.timerHandles.delete(name);
  }

  private clearConnectionTimers(): void {
    for (const name of [
      'connect',
      'ping',
      'heartbeat',
      'renew',
      'drain',
      'flush',
      'view',
      'probe',
      'probe-timeout',
    ])
      this.clearTimer(name);
    this.deliveryAcks.pause();
    // The next welcome resubscribes everything anyway.
    for (const name of [...this.timerHandles.keys()]) if (name.startsWith('resub:')) this.clearTimer(name);
  }

  private clearAllTimers(): void {
    for (const name of [...this.timerHandles.keys()]) this.clearTimer(name);
    this.typingTracker.dispose();
    this.deliveryAcks.dispose();
  }
}

/** Offered with the token so the server has a subprotocol to echo (it never echoes the token). */
const SUBPROTOCOL = 'herald.v1';
const BEARER_PROTOCOL = 'herald.bearer.';
/** RFC 7230 `token`: what a subprotocol may be. JWTs (base64url and dots) always qualify. */
const SUBPROTOCOL_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function toClientError(err: unknown, fallback: HeraldClientError['code']): HeraldClientError {
  if (err instanceof HeraldClientError) return err;
  return new HeraldClientError(fallback, err instanceof Error ? err.message : undefined, { cause: err });
}
