// HeraldClient: the SDK's public façade. The work is done by parts, each one
// job, wired together in client-core.ts:
//
//   connection.ts      the transport: state machine (its header has the diagram), dial
//                      (WebSocket or SSE + HTTP), backoff, ping, drain hints, token renewal;
//                      it knows nothing of conversations
//   frame-router.ts    server frame type → handler; session-frames.ts is the session's table
//   conversations.ts   open subscriptions and their resubscribes; subscription.ts →
//                      resume.ts (since_seq catch-up, gap repair over HTTP, idempotent apply)
//                      and timeline.ts
//   synced-store.ts    the cursor-synced stores (inbox-store.ts, notice-store.ts) and
//                      cursor-sync.ts, their sync loop with retry and backoff
//   presence.ts        status heartbeats, the conversation on screen, rooms' presence
//   sends.ts, reads.ts optimistic sends (exactly once), read markers (at least once)
//   paced-flush.ts     writes what waits, within `welcome.limits`
//   offline.ts         what persists across reloads
//
// The façade imports the parts; no part imports the façade.
import type { PresenceEntry, PresenceStatus } from '../protocol/frames.ts';
import type { Notice } from '../protocol/model.ts';
import { ClientCore } from './client-core.ts';
import { Emitter } from './emitter.ts';
import { HeraldClientError } from './errors.ts';
import type { Transport } from './fallback.ts';
import type { HeraldHttp, NoticeFlags } from './http.ts';
import type { InboxStore } from './inbox-store.ts';
import { type KindActions, kindActions } from './kind-actions.ts';
import type { NoticeStore } from './notice-store.ts';
import type {
  ConnectionState,
  HeraldClientEvents,
  HeraldClientOptions,
  StateChange,
  TokenRequest,
  WelcomeInfo,
} from './options.ts';
import type { OutgoingMessage, SendOptions } from './outbox.ts';
import type { WebSocketConstructor } from './socket.ts';
import type { Subscription } from './subscription.ts';
import { ThreadTimeline } from './thread.ts';

export type {
  ConnectionState,
  HeraldClientEvents,
  HeraldClientOptions,
  StateChange,
  TokenRequest,
  WelcomeInfo,
};

export class HeraldClient extends Emitter<HeraldClientEvents> {
  readonly http: HeraldHttp;
  /** The kinds' actions on a message: `kinds.reactions.react(conversation, messageId, { emoji })`. */
  readonly kinds: KindActions;
  readonly inbox: InboxStore;
  readonly notices: NoticeStore;
  readonly deviceId: string;
  private readonly core: ClientCore;

  constructor(opts: HeraldClientOptions) {
    super();
    const WS = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WS)
      throw new Error('No WebSocket available: pass the `WebSocket` option (e.g. from the `ws` package).');
    this.core = new ClientCore(opts, WS, (type, payload) => this.emit(type, payload));
    this.http = this.core.http;
    this.kinds = kindActions(this.http);
    this.inbox = this.core.inbox;
    this.notices = this.core.notices;
    this.deviceId = this.core.deviceId;
  }

  /**
   * Resolves once what a previous client left in the storage is back: cached timelines, pending
   * sends (in `pending()`), unsent reads. `connect()` waits for it before dialling. Never rejects.
   */
  get restored(): Promise<void> {
    return this.core.restored;
  }

  get state(): ConnectionState {
    return this.core.conn.state;
  }
  /** The transport of the current (or last) connection: `websocket`, or `sse` (SSE + HTTP fallback). */
  get transport(): Transport {
    return this.core.conn.transport;
  }
  /** The last welcome (who we are on this connection), or null before the first. */
  get session(): WelcomeInfo | null {
    return this.core.conn.session;
  }

  // ---- connection -------------------------------------------------------------------

  /** Starts connecting; reconnects on its own until disconnect() or a permanent close. */
  connect(): void {
    const core = this.core;
    if (core.conn.state !== 'disconnected') return;
    if (core.reloadSends && core.persistence) {
      // Sends this instance gave up on at disconnect() are still in storage: they go now.
      core.reloadSends = false;
      core.restored = core.restored.then(() => core.offline.reloadPendingSends());
    }
    core.conn.connect();
  }

  /**
   * Closes the socket and stops reconnecting. Unconfirmed sends fail with DISCONNECTED (their
   * `done` rejects) but stay in the storage: the next connect(), or the next client over the same
   * storage, sends them with their client_id. clearStorage() drops them.
   */
  disconnect(): void {
    this.core.conn.disconnect();
  }

  /** Resolves once connected (or rejects when the client lands in `disconnected`). */
  ready(): Promise<void> {
    if (this.state === 'connected') return Promise.resolve();
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
    const { conversations, offline } = this.core;
    const existing = conversations.get(conversation);
    if (existing && existing.status !== 'closed') return existing;
    const sub = conversations.open(conversation, opts.sinceSeq);
    sub.on('closed', ({ code }) => {
      // Ended by the server (not a member any more…): nothing of it may be shown after a reload.
      if (code !== 'UNSUBSCRIBED') offline.forget(conversation);
    });
    offline.seed(sub);
    if (this.state === 'connected') {
      conversations.subscribe(conversation);
      this.core.flush();
    }
    return sub;
  }

  /** A thread's timeline: its root, history and live replies, reply and mark-read (thread.ts). */
  thread(conversation: string, rootId: string): ThreadTimeline {
    return new ThreadTimeline(this, conversation, rootId);
  }

  /**
   * Internal (ThreadTimeline.markRead): a `thread_read` frame on a connected WebSocket. False
   * when it must go over HTTP: not connected, or the SSE fallback (which has no such frame).
   */
  _writeThreadRead(conversation: string, rootId: string, seq: number): boolean {
    const { conn } = this.core;
    if (conn.state !== 'connected' || conn.transport !== 'websocket') return false;
    return conn.write({ type: 'thread_read', conversation, root_id: rootId, seq });
  }

  subscription(conversation: string): Subscription | undefined {
    return this.core.conversations.get(conversation);
  }

  /** Optimistic send: returns at once with a client_id; `done` settles on ack/event or error. */
  send(conversation: string, body: string, opts: SendOptions = {}): OutgoingMessage {
    const m = this.core.sends.add(conversation, body, opts);
    this.core.typing.resetThrottle(conversation);
    if (this.state === 'connected') this.core.flush();
    return m;
  }

  /** Unconfirmed sends (queued or in flight), oldest first. */
  pending(conversation?: string): OutgoingMessage[] {
    return this.core.sends.outbox.list(conversation);
  }

  /**
   * Marks read up to seq (coalesced: only a higher seq goes out). At least once: the latest read
   * per conversation is written again after every reconnect until the server reflects it (an
   * `inbox` entry, own `receipt` or HTTP read answer with last_read_seq >= seq).
   */
  read(conversation: string, seq: number): void {
    this.core.markRead(conversation, seq);
  }

  /** Tells the server which conversation is on screen, so its messages arrive already read. */
  view(conversation: string | null): void {
    this.core.device.view(conversation, this.state === 'connected');
  }

  /**
   * Call on keystrokes; sends at most one `typing` per conversation per throttle window, and only
   * in a conversation whose subscribe this connection has confirmed (the gateway refuses typing
   * before its `subscribed`; right after a reconnect the resubscribe may still be on its way).
   */
  typing(conversation: string): boolean {
    const { conn, conversations, typing } = this.core;
    if (conn.state !== 'connected') return false;
    if (!conversations.live(conversation)) return false;
    if (!typing.shouldSend(conversation)) return false;
    return conn.write({ type: 'typing', conversation });
  }

  /** Users currently typing in a conversation (indicators expire after ~3 s). */
  typingUsers(conversation: string): string[] {
    return this.core.typing.users(conversation);
  }

  /** Sets this device's presence status (and resource, e.g. the open page) and heartbeats it. */
  setStatus(status: PresenceStatus, resource?: string): void {
    const { device, conn } = this.core;
    device.setStatus(status, resource);
    if (conn.state === 'connected') conn.write(device.heartbeatFrame());
  }

  /**
   * Devices present in a conversation (null: the user-level roster), one entry per
   * user_id + device_id: the subscribe snapshot merged with every delta since. A device reported
   * `offline` is dropped. Forgotten on each new connection (the server re-sends the snapshot on
   * resubscribe) and when the conversation is closed.
   */
  presence(conversation: string | null = null): PresenceEntry[] {
    return this.core.device.entries(conversation);
  }

  /** Syncs the inbox store now (it also syncs after every connect). */
  async syncInbox(): Promise<void> {
    await this.core.inboxSync.run();
  }

  /**
   * Syncs the notices store now (it also syncs after every connect): GET /v1/notices?since=<cursor>
   * while has_more. Notices this client had not seen are emitted as `notice`, except the backlog
   * found by the very first sync (read that from `notices.list()`).
   */
  async syncNotices(): Promise<void> {
    await this.core.noticesSync.run();
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
    await this.core.persistence?.flush();
  }

  /** Forgets everything in the storage: cached timelines, positions, unsent sends and reads (logout). */
  async clearStorage(): Promise<void> {
    await this.restored;
    await this.core.offline.clear();
  }
}
