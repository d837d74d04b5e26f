// The parts of one client and how they are wired: each part gets what it needs
// from the others as narrow callbacks, so none imports another's owner. The
// public API over this is the façade, HeraldClient (client.ts).
import type { ClientFrame } from '../protocol/frames.ts';
import type { Message } from '../protocol/model.ts';
import { fullJitterDelay } from './backoff.ts';
import { Connection, type ConnectionHooks } from './connection.ts';
import { Conversations } from './conversations.ts';
import { CursorSync, type CursorSyncDeps } from './cursor-sync.ts';
import { defaultStorage } from './default-storage.ts';
import { DeliveryAcks } from './delivery-acks.ts';
import type { HeraldClientError } from './errors.ts';
import { routeFrame } from './frame-router.ts';
import { HeraldHttp } from './http.ts';
import { InboxStore } from './inbox-store.ts';
import { NamedTimers } from './named-timers.ts';
import { NoticeStore } from './notice-store.ts';
import { Offline } from './offline.ts';
import type { HeraldClientEvents, HeraldClientOptions } from './options.ts';
import { PacedFlush } from './paced-flush.ts';
import { Persistence } from './persistence.ts';
import { Presence } from './presence.ts';
import { ReadMarkers } from './reads.ts';
import { Sends } from './sends.ts';
import { type SessionHandlers, serverEntry, sessionHandlers } from './session-frames.ts';
import type { WebSocketConstructor } from './socket.ts';
import type { AppliedEvent } from './subscription.ts';
import { realTimers } from './timers.ts';
import { TokenKeeper } from './token-keeper.ts';
import { TypingTracker } from './typing.ts';
import { randomId } from './uuid.ts';

export type Emit = <K extends keyof HeraldClientEvents>(type: K, payload: HeraldClientEvents[K]) => void;

export class ClientCore {
  readonly http: HeraldHttp;
  readonly inbox = new InboxStore();
  readonly notices = new NoticeStore();
  readonly deviceId: string;
  readonly conn: Connection;
  readonly conversations: Conversations;
  readonly sends: Sends;
  readonly reads: ReadMarkers;
  readonly device: Presence;
  readonly offline: Offline;
  /** Write-behind to the offline storage; null with `storage: false`. */
  readonly persistence: Persistence | null;
  readonly typing: TypingTracker;
  readonly deliveryAcks: DeliveryAcks;
  readonly inboxSync: CursorSync;
  readonly noticesSync: CursorSync;
  /** What a previous client left in the storage is back (connect() chains reloads onto it). */
  restored: Promise<void>;
  /** Set by disconnect()/stop: the next connect() brings back the sends kept in storage. */
  reloadSends = false;
  private readonly flusher: PacedFlush;
  private readonly handlers: SessionHandlers;

  constructor(
    private readonly opts: HeraldClientOptions,
    WS: WebSocketConstructor,
    private readonly emit: Emit,
  ) {
    const clock = opts.timers ?? realTimers;
    const random = opts.random ?? Math.random;
    const tokens = new TokenKeeper(opts.token, opts.getToken);
    const timers = new NamedTimers(clock);
    const backoff = (attempt: number) => fullJitterDelay(attempt, opts.backoff ?? {}, random);
    const flush = () => this.flush();
    const write = (f: ClientFrame) => this.conn.write(f);
    /** A gen check: the connection is still on the socket it was on when this was called. */
    const sameSocket = () => {
      const gen = this.conn.generation;
      return () => gen === this.conn.generation;
    };
    this.deviceId = opts.deviceId ?? randomId();
    this.http = new HeraldHttp({
      baseUrl: opts.url,
      fetch: opts.fetch,
      timeoutMs: opts.requestTimeoutMs,
      token: () => tokens.current,
      refreshToken: opts.getToken ? () => tokens.refresh('expired') : undefined,
      readMarked: (entry) => serverEntry(this, entry),
    });
    this.conn = new Connection({
      opts,
      deviceId: this.deviceId,
      WS,
      tokens,
      http: this.http,
      timers,
      random,
      backoff,
      restored: () => this.restored,
      hooks: this.connectionHooks(),
    });
    this.typing = new TypingTracker(
      clock,
      opts.typingThrottleMs ?? 2000,
      opts.typingTtlMs ?? 3000,
      (conversation, users) => emit('typing', { conversation, users }),
    );
    this.inbox.on('change', (c) => emit('inbox', c));
    this.deliveryAcks = new DeliveryAcks(
      clock,
      opts.deliveryAckMs ?? 500,
      (f) => this.conn.welcomed && this.conn.write(f),
    );
    const storage = opts.storage === undefined ? defaultStorage(opts.token) : opts.storage;
    const persistence = storage
      ? new Persistence({
          storage,
          snapshot: (c) => this.offline.snapshotOf(c),
          error: (err) => emit('error', err),
        })
      : null;
    this.persistence = persistence;
    const now = () => clock.now();
    this.sends = new Sends({
      persistence,
      now,
      retryDelay: backoff,
      createClientId: opts.createClientId,
      sent: (result) => emit('sent', result),
    });
    this.reads = new ReadMarkers({ persistence, now, retryDelay: backoff });
    this.device = new Presence({
      timers,
      write,
      heartbeats: opts.heartbeat ?? true,
      retryDelay: backoff,
      sameSocket,
      flush,
    });
    this.conversations = new Conversations({
      http: this.http,
      clock,
      timers,
      pageSize: opts.pageSize ?? 200,
      replaySettleMs: opts.replaySettleMs ?? 2000,
      maxMessages: opts.maxMessages ?? 500,
      viewer: () => this.conn.session?.user_id ?? null,
      retryDelay: backoff,
      applied: (e) => this.onApplied(e),
      error: (err) => this.backgroundError(err),
      closed: (c) => {
        this.offline.keepSnapshot(c);
        this.device.forget(c);
        this.conn.write({ type: 'unsubscribe', conversation: c });
      },
      ended: (c, byFrame) => {
        if (byFrame) this.deliveryAcks.forget(c);
        this.device.forget(c);
      },
      sameSocket,
      flush,
    });
    this.offline = new Offline({
      persistence,
      conversations: this.conversations,
      sends: this.sends,
      reads: this.reads,
      url: opts.url,
      cacheMessages: opts.cacheMessages ?? 200,
      read: (c, seq) => this.markRead(c, seq),
      connected: () => this.conn.state === 'connected',
      flush,
      error: (err) => emit('error', err),
    });
    this.flusher = new PacedFlush({
      timers,
      pacer: this.conn.pacer,
      writable: () => this.conn.writable,
      write,
    });
    // The order a resume writes in: subscriptions (with since_seq), what is on screen, reads the
    // server has not reflected, then unconfirmed sends with their original client_id.
    for (const lane of [this.conversations, this.device, this.reads, this.sends]) this.flusher.add(lane);
    const syncDeps: CursorSyncDeps = {
      timers,
      retryDelay: backoff,
      error: (err) => this.backgroundError(err),
      stopped: () => this.conn.state === 'disconnected',
    };
    this.inboxSync = new CursorSync('inbox', () => this.inboxPage(), syncDeps);
    this.noticesSync = new CursorSync('notices', () => this.noticesPage(), syncDeps);
    this.handlers = sessionHandlers({
      ...this.sessionParts(),
      session: () => this.conn.session,
      emit,
      flush,
    });
    this.restored = this.offline.restore();
  }

  /** Writes what waits for this socket, paced (paced-flush.ts). */
  flush(): void {
    this.flusher.run();
  }

  /** read(): coalesced, and the inbox counts drop at once. */
  markRead(conversation: string, seq: number): void {
    const r = this.reads.mark(conversation, seq);
    if (r === 'ignored') return;
    this.inbox._markReadLocally(conversation, seq);
    if (r === 'queued' && this.conn.state === 'connected') this.flush();
  }

  /** Failures of work the host did not ask for (catch-up, inbox sync): moot once disconnected. */
  backgroundError(err: HeraldClientError): void {
    if (this.conn.state !== 'disconnected') this.emit('error', err);
  }

  private sessionParts() {
    const { conversations, sends, reads, device, inbox, notices, typing, deliveryAcks } = this;
    return { conversations, sends, reads, device, inbox, notices, typing, deliveryAcks };
  }

  private async inboxPage() {
    const page = await this.http.inbox(this.inbox.cursor, this.opts.inboxPageSize ?? 200);
    return {
      apply: () => {
        for (const e of page.entries) this.reads.settle(e.conversation_id, e.last_read_seq);
        this.inbox._applyPage(page);
      },
      more: page.has_more && page.entries.length > 0,
    };
  }

  /** Notices not seen before are emitted as `notice`, except the very first sync's backlog. */
  private async noticesPage() {
    const backlog = !this.notices.synced;
    const page = await this.http.notices(this.notices.cursor, this.opts.noticesPageSize ?? 200);
    return {
      apply: () => {
        const fresh = this.notices._applyPage(page);
        if (!backlog) for (const n of fresh) this.emit('notice', n);
      },
      more: page.has_more && page.notices.length > 0,
    };
  }

  private onApplied(e: AppliedEvent): void {
    this.persistence?.touch(e.conversation);
    this.emit('event', e);
    this.deliveryAcks.applied(e.conversation, e.seq);
    if (e.event.type !== 'message.created') return;
    const message: Message = e.event.message;
    if (message.sender.type === 'user') this.typing.clear(e.conversation, message.sender.user_id);
    this.sends.applied(e.conversation, e.seq, message, this.conn.session?.user_id);
  }

  private connectionHooks(): ConnectionHooks {
    return {
      frame: (f) => routeFrame(this.handlers, f),
      welcomed: (info) => {
        this.deliveryAcks.resume();
        this.offline.checkOwner(info);
        // Resume before anything else goes out, paced by flush() within the server's limits.
        this.device.resume();
        this.conversations.resume();
        this.flush();
        this.device.startHeartbeat(info.heartbeat_ms);
      },
      connected: (info) => {
        this.emit('welcome', info);
        if (this.opts.inbox ?? true) this.inboxSync.inBackground();
        if (this.opts.notices ?? true) this.noticesSync.inBackground();
      },
      detached: () => {
        this.flusher.cancel();
        this.device.detached();
        this.conversations.detached();
        this.deliveryAcks.pause();
        this.sends.outbox.requeueAll();
        this.reads.requeue();
      },
      halting: () => {
        this.typing.dispose();
        this.deliveryAcks.dispose();
        this.inboxSync.suspend();
        this.noticesSync.suspend();
        this.conversations.suspend();
      },
      stopped: (err) => {
        // Kept in storage: the next connect() (or a reload) sends them with their client_id.
        this.sends.outbox.failAll(err, false);
        this.reloadSends = true;
      },
      state: (change) => this.emit('state', change),
      error: (err) => this.emit('error', err),
      transport: (change) => this.emit('transport', change),
      streams: () => this.conversations.streams(),
    };
  }
}
