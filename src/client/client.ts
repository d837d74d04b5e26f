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
import {
  type ClientFrame,
  PROTOCOL_VERSION,
  type PresenceEntry,
  type PresenceStatus,
  type ServerFrame,
} from '../protocol/frames.ts';
import type { Message, Notice } from '../protocol/model.ts';
import { fullJitterDelay } from './backoff.ts';
import { Emitter } from './emitter.ts';
import { HeraldClientError } from './errors.ts';
import { HeraldHttp, type NoticeFlags } from './http.ts';
import { InboxStore } from './inbox-store.ts';
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
import { frameText, OPEN, type WebSocketConstructor, type WebSocketLike } from './socket.ts';
import { type AppliedEvent, ENDS_SUBSCRIPTION, Subscription } from './subscription.ts';
import { realTimers, type Timers } from './timers.ts';
import { TokenKeeper } from './token-keeper.ts';
import { TypingTracker } from './typing.ts';
import { randomId } from './uuid.ts';

/** One cursor-synced store's sync loop: running now, and asked again meanwhile. */
interface SyncState {
  running: boolean;
  again: boolean;
}

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
  /** Per conversation, subscribes the server failed in a row (backoff of the next try). */
  private readonly subscribeAttempts = new Map<string, number>();
  private readonly outbox = new Outbox();
  private readonly reads = new Map<string, { seq: number; sent: boolean }>();
  /** room ('' = the user-level roster) → user_id + device_id → the device's latest entry. */
  private readonly presenceByRoom = new Map<string, Map<string, PresenceEntry>>();
  private viewing: string | null = null;
  private status: PresenceStatus = 'active';
  private resource: string | undefined;
  private awaitingPong = false;
  private readonly inboxSync: SyncState = { running: false, again: false };
  private readonly noticesSync: SyncState = { running: false, again: false };
  /** Bumped by disconnect()/stop: sync loops started before it stop paging. */
  private syncEpoch = 0;
  private readonly typingTracker: TypingTracker;
  private readonly timers: Timers;
  private readonly random: () => number;
  private readonly WS: WebSocketConstructor;

  constructor(private readonly opts: HeraldClientOptions) {
    super();
    this.timers = opts.timers ?? realTimers;
    this.random = opts.random ?? Math.random;
    const WS = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WS)
      throw new Error('No WebSocket available: pass the `WebSocket` option (e.g. from the `ws` package).');
    this.WS = WS;
    this.tokens = new TokenKeeper(opts.token, opts.getToken);
    this.deviceId = opts.deviceId ?? randomId();
    this.http = new HeraldHttp({
      baseUrl: opts.url,
      fetch: opts.fetch,
      token: () => this.tokens.current,
      refreshToken: opts.getToken ? () => this.tokens.refresh('expired') : undefined,
    });
    this.typingTracker = new TypingTracker(
      this.timers,
      opts.typingThrottleMs ?? 2000,
      opts.typingTtlMs ?? 3000,
      (conversation, users) => this.emit('typing', { conversation, users }),
    );
    this.inbox.on('change', (c) => this.emit('inbox', c));
  }

  get state(): ConnectionState {
    return this._state;
  }
  /** The last welcome (who we are on this connection), or null before the first. */
  get session(): WelcomeInfo | null {
    return this._welcome;
  }

  // ---- connection -------------------------------------------------------------------

  /** Starts connecting; reconnects on its own until disconnect() or a permanent close. */
  connect(): void {
    if (this._state !== 'disconnected') return;
    this.attempt = 0;
    this.setState({ from: this._state, to: 'connecting' });
    void this.dial();
  }

  /** Closes the socket and stops reconnecting. Unconfirmed sends fail with DISCONNECTED. */
  disconnect(): void {
    if (this._state === 'disconnected') return;
    this.abandonSocket(1000, 'client disconnect');
    this.clearAllTimers();
    this.suspendBackgroundWork();
    this.drainDueAt = null;
    this.setState({ from: this._state, to: 'disconnected' });
    this.outbox.failAll(new HeraldClientError('DISCONNECTED'));
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
      error: (err) => this.backgroundError(err),
      unsubscribe: (c) => {
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
    if (this._state === 'connected') this.write(sub._subscribeFrame());
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
    this.typingTracker.resetThrottle(conversation);
    if (this._state === 'connected' && this.write(m._frame())) m._markSent();
    return m;
  }

  /** Unconfirmed sends (queued or in flight), oldest first. */
  pending(conversation?: string): OutgoingMessage[] {
    return this.outbox.list(conversation);
  }

  /** Marks read up to seq (coalesced: only a higher seq goes out). */
  read(conversation: string, seq: number): void {
    const prev = this.reads.get(conversation);
    if (prev && prev.seq >= seq) return;
    const entry = { seq, sent: false };
    this.reads.set(conversation, entry);
    this.inbox._markReadLocally(conversation, seq);
    if (this._state === 'connected') entry.sent = this.write({ type: 'read', conversation, seq });
  }

  /** Tells the server which conversation is on screen, so its messages arrive already read. */
  view(conversation: string | null): void {
    this.viewing = conversation;
    if (this._state === 'connected') this.write({ type: 'view', conversation });
  }

  /** Call on keystrokes; sends at most one `typing` per conversation per throttle window. */
  typing(conversation: string): boolean {
    if (this._state !== 'connected' || !this.typingTracker.shouldSend(conversation)) return false;
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
        apply: () => this.inbox._applyPage(page),
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
   * changes). A disconnect meanwhile stops the paging (the next welcome asks again).
   */
  private async pagedSync(
    state: SyncState,
    fetchPage: () => Promise<{ apply: () => void; more: boolean }>,
  ): Promise<void> {
    if (state.running) {
      state.again = true;
      return;
    }
    state.running = true;
    try {
      do {
        state.again = false;
        const epoch = this.syncEpoch;
        for (;;) {
          const page = await fetchPage();
          if (epoch !== this.syncEpoch) break;
          page.apply();
          if (!page.more) break;
        }
      } while (state.again);
    } finally {
      state.running = false;
    }
  }

  /** Flags your copy of a notice (PATCH /v1/notices/{id}) and applies the server's answer to `notices`. */
  async markNotice(id: string, flags: NoticeFlags): Promise<Notice> {
    const { notice } = await this.http.markNotice(id, flags);
    this.notices._applyFrame(notice);
    return notice;
  }

  // ---- socket lifecycle -------------------------------------------------------------

  private async dial(): Promise<void> {
    const gen = ++this.gen;
    let token: string;
    try {
      token = await this.tokens.forDial();
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
    this.ws = ws;
    if (!inProtocol) {
      ws.addEventListener('open', () => {
        if (gen === this.gen) this.write({ type: 'auth', token });
      });
    }
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

  /**
   * Renews before expiry and hands the new token to the live socket (`auth` frame: the server
   * re-arms its expiry; no reconnect). With `renewInPlace: false` it moves to a new socket instead.
   */
  private async renewToken(): Promise<void> {
    if (!this.tokens.canRefresh) return;
    const gen = this.gen;
    let token: string;
    try {
      token = await this.tokens.renew(this.timers.now());
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
    this.gen++;
    this.ws = null;
    this.clearConnectionTimers();
    this.outbox.requeueAll();
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
    } else {
      // An HTTP 401 may already have refreshed the token since this socket opened: reuse it.
      if (action === 'refresh') this.tokens.socketTokenRejected();
      delay = this.backoffDelay(this.attempt++);
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
    this.outbox.failAll(err);
  }

  /** Detaches from the current socket (its events are ignored from now on) and closes it. */
  private abandonSocket(code: number, reason: string): void {
    const ws = this.ws;
    this.gen++;
    this.ws = null;
    this.clearConnectionTimers();
    this.outbox.requeueAll();
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
    return true;
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
        this.subscribeAttempts.delete(frame.conversation);
        this.subs.get(frame.conversation)?._onSubscribed(frame.head_seq, frame.replayed, frame.complete);
        return;
      case 'unsubscribed': {
        // 'UNSUBSCRIBED' answers our own close(), already handled; a re-open may have followed it.
        if (frame.code === 'UNSUBSCRIBED') return;
        const sub = this.subs.get(frame.conversation);
        this.subs.delete(frame.conversation);
        this.presenceByRoom.delete(frame.conversation);
        sub?._end(frame.code);
        this.emit('error', new HeraldClientError(frame.code, undefined, { ref: frame.conversation }));
        return;
      }
      case 'event':
        this.subs.get(frame.conversation)?._onEvent(frame.seq, frame.event);
        return;
      case 'ack': {
        const { client_id, conversation, seq, message_id } = frame;
        // Acks go only to the sender's connection; still, it must be for the send's conversation.
        if (this.outbox.get(client_id)?.conversation === conversation)
          this.confirm({ client_id, conversation, seq, message_id });
        return;
      }
      case 'inbox':
        this.inbox._applyFrame(frame.entry);
        return;
      case 'notice': {
        const fresh = this.notices._applyFrame(frame.notice);
        if (fresh) this.emit('notice', fresh);
        return;
      }
      case 'receipt':
        this.emit('receipt', { conversation: frame.conversation, user_id: frame.user_id, seq: frame.seq });
        return;
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
    this.tokens.accepted();
    const expiresAtMs = normaliseEpoch(frame.expires_at);
    this._welcome = {
      connection_id: frame.connection_id,
      user_id: frame.user_id,
      tenant_id: frame.tenant_id,
      device_id: frame.device_id ?? this.deviceId,
      heartbeat_ms: frame.heartbeat_ms,
      expires_at_ms: expiresAtMs,
    };
    // The server sends a presence snapshot on each subscribe below: what we held may be stale.
    this.presenceByRoom.clear();
    // Resume before anything else goes out: subscriptions (with since_seq), what is on screen,
    // reads not yet delivered, then unconfirmed sends with their original client_id.
    for (const sub of this.subs.values()) this.write(sub._subscribeFrame());
    if (this.viewing !== null) this.write({ type: 'view', conversation: this.viewing });
    for (const [conversation, r] of this.reads) {
      if (!r.sent) r.sent = this.write({ type: 'read', conversation, seq: r.seq });
    }
    for (const m of this.outbox.list()) if (m.status === 'queued' && this.write(m._frame())) m._markSent();
    this.startHeartbeat(frame.heartbeat_ms);
    this.startPing();
    if (expiresAtMs !== null) this.scheduleRenewal(expiresAtMs);
    if (this._state !== 'connected') this.setState({ from: this._state, to: 'connected' });
    this.emit('welcome', this._welcome);
    if (this.opts.inbox ?? true) {
      this.syncInbox().catch((err) => this.backgroundError(toClientError(err, 'NETWORK_ERROR')));
    }
    if (this.opts.notices ?? true) {
      this.syncNotices().catch((err) => this.backgroundError(toClientError(err, 'NETWORK_ERROR')));
    }
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

  private onErrorFrame(code: HeraldClientError['code'], message: string, ref?: string): void {
    const err = new HeraldClientError(code, message, { ref });
    if (ref !== undefined && this.outbox.fail(ref, err)) return;
    const sub = ref === undefined ? undefined : this.subs.get(ref);
    if (ref !== undefined && sub && ENDS_SUBSCRIPTION.has(code)) {
      this.subs.delete(ref);
      this.presenceByRoom.delete(ref);
      sub._end(code);
    } else if (sub && sub.status !== 'closed' && RETRY_SUBSCRIBE.has(code)) {
      // The server could not subscribe us this time (a store error): it serves nothing of the
      // conversation until we ask again, so ask again after a backoff, from the last applied seq.
      // Even when `subscribed`: after close() + open(), the old subscribe's answer arrives first
      // and cannot be told from the new one's; a spare resubscribe only replays what we hold.
      this.retrySubscribe(sub);
    }
    this.emit('error', err);
  }

  private retrySubscribe(sub: Subscription): void {
    const attempt = this.subscribeAttempts.get(sub.conversation) ?? 0;
    this.subscribeAttempts.set(sub.conversation, attempt + 1);
    const gen = this.gen;
    this.setTimer(`subscribe:${sub.conversation}`, this.backoffDelay(attempt), () => {
      if (gen !== this.gen || this.subs.get(sub.conversation) !== sub || sub.status === 'closed') return;
      this.write(sub._subscribeFrame());
    });
  }

  private onApplied(e: AppliedEvent): void {
    this.emit('event', e);
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
    if (this.outbox.confirm(result.client_id, result)) this.emit('sent', result);
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
    for (const name of ['connect', 'ping', 'heartbeat', 'renew', 'drain']) this.clearTimer(name);
  }

  private clearAllTimers(): void {
    for (const name of [...this.timerHandles.keys()]) this.clearTimer(name);
    this.typingTracker.dispose();
  }
}

/** Error codes of a failed `subscribe` that a later try may not get: the client subscribes again. */
const RETRY_SUBSCRIBE: ReadonlySet<string> = new Set([
  'INTERNAL',
  'STORE_UNAVAILABLE',
  'NOT_READY',
  'RATE_LIMITED',
]);

/** Offered with the token so the server has a subprotocol to echo (it never echoes the token). */
const SUBPROTOCOL = 'herald.v1';
const BEARER_PROTOCOL = 'herald.bearer.';
/** RFC 7230 `token`: what a subprotocol may be. JWTs (base64url and dots) always qualify. */
const SUBPROTOCOL_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Best effort: the `exp` of a JWT, in ms; null for anything else (opaque host tokens). */
function jwtExpiryMs(token: string): number | null {
  const part = token.split('.')[1];
  if (!part) return null;
  try {
    const json = atob(
      part
        .replace(/-/g, '+')
        .replace(/_/g, '/')
        .padEnd(Math.ceil(part.length / 4) * 4, '='),
    );
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? normaliseEpoch(exp) : null;
  } catch {
    return null;
  }
}

/** Tokens carry `exp` in seconds; accept either unit on the wire. */
function normaliseEpoch(value: number | undefined): number | null {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) return null;
  return value < 1e12 ? value * 1000 : value;
}

function toClientError(err: unknown, fallback: HeraldClientError['code']): HeraldClientError {
  if (err instanceof HeraldClientError) return err;
  return new HeraldClientError(fallback, err instanceof Error ? err.message : undefined, { cause: err });
}
