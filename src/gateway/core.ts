// What every session shares on one node: the topic hub, the stores and registries, the
// handshake checks, metrics, the presence batcher and the maintenance timers.
// Transport-independent: the WebSocket server and the SSE route both build sessions on it.
// It sees a session only as a CoreSession (ports.ts): session.ts imports this, not back.
import { randomUUID } from 'node:crypto';
import { rememberConversationKind } from '../domain/commands.ts';
import type { ConnectionReader, LiveReader } from '../domain/read-ports.ts';
import { memoryLimiters, memorySlots } from '../limits/memory.ts';
import type { Limiter } from '../limits/port.ts';
import { type AdmitResult, SocketAdmission } from '../limits/socket-caps.ts';
import type { ConversationKind } from '../protocol/index.ts';
import { memoryConnections } from '../registry/memory-connections.ts';
import { memoryPresence } from '../registry/memory-presence.ts';
import { memoryTyping } from '../registry/memory-typing.ts';
import type { ConnectionRegistry, PresenceStore, TypingStore } from '../registry/ports.ts';
import { type Messaging, messaging } from '../usecases/messaging.ts';
import { type Threads, threads } from '../usecases/threads.ts';
import { type AuthResult, Handshake } from './handshake.ts';
import { InboxHints } from './inbox-hints.ts';
import { GatewayMetrics } from './metrics.ts';
import { type GatewayOptions, type ResolvedOptions, resolveOptions } from './options.ts';
import type { CoreSession, ResyncTarget } from './ports.ts';
import { PresenceBatch } from './presence-batch.ts';
import { type Access, accessOf, type Replay, replayOf } from './queries.ts';
import { resync } from './resync.ts';
import { type TopicFrame, TopicHub } from './topic-hub.ts';
import { FlushScheduler } from './writer.ts';

export { type AuthFailure, type AuthResult, originAllowed } from './handshake.ts';

/** `S`: the sessions the transports keep here (session.ts's Session; any CoreSession for the core). */
export class GatewayCore<S extends CoreSession = CoreSession> {
  readonly opts: ResolvedOptions;
  readonly hub: TopicHub;
  /** Large channels' inbox hints: one room listener per channel for its local members. */
  readonly hints: InboxHints;
  readonly metrics: GatewayMetrics;
  readonly presence: PresenceStore;
  readonly connections: ConnectionRegistry;
  readonly typing: TypingStore;
  readonly sessions = new Set<S>();
  /** Sessions over the soft mark, checked by the maintenance tick. */
  readonly degraded = new Set<CoreSession>();
  /** Handshakes per tenant user and per client IP (cluster-wide when the host passes Redis limiters). */
  readonly userLimiter: Limiter;
  readonly ipLimiter: Limiter;
  /** Socket caps per user and per tenant, shared by WebSocket and SSE. */
  readonly admission: SocketAdmission;
  /** Flushes every connection's queued frames once per event-loop turn. */
  readonly flusher = new FlushScheduler();
  /** A connection's queue is handed over within the tick past this size (writer.ts). */
  readonly flushAtBytes: number;
  readonly presenceBatch: PresenceBatch;
  /** Set by drain(): new connections are refused. */
  draining = false;

  private readonly handshake: Handshake;
  /** The store's live reads (access, subscribe, replay), bound to the store once. */
  private readonly live: LiveReader;
  /** The store's reads for connections (origins, member ids, channel sizes), bound once too. */
  readonly connection: ConnectionReader;
  /** The use cases a frame calls (the ones HTTP calls too). */
  readonly messaging: Messaging;
  readonly threads: Threads;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly stopResync: () => void;

  constructor(options: GatewayOptions) {
    this.opts = resolveOptions(options, options.nodeId ?? randomUUID());
    this.messaging = messaging(this.opts.deps, this.opts.sendLimiter);
    this.threads = threads(this.opts.deps);
    const reads = this.opts.deps.reads(this.opts.deps.db);
    this.live = reads.live;
    this.connection = reads.connection;
    this.metrics = new GatewayMetrics(options.metrics);
    const sessions = this.sessions;
    this.metrics.watchQueues(function* () {
      for (const s of sessions) yield s.sink.bufferedAmount();
    });
    this.flushAtBytes = Math.max(1024, Math.min(64 * 1024, Math.floor(this.opts.softMarkBytes / 4)));
    this.presence = options.presence ?? memoryPresence();
    this.presenceBatch = new PresenceBatch(this.opts, this.presence, this.connection);
    this.hub = new TopicHub(
      options.bus,
      (err, topic) => this.opts.log?.warn({ err, topic }, 'topic delivery failed'),
      () => this.flusher.eager(),
      (_frame, topic) => this.presenceBatch.evict(topic),
      (frame, topic, listeners) => this.frameDelivered(frame, topic, listeners),
    );
    const { limits } = this.opts.deps;
    this.hints = new InboxHints(this.hub, this.opts.inboxHintIntervalMs, (tenant, ids) =>
      this.connection.largeChannelsAmong(tenant, ids, limits.largeChannelThreshold),
    );
    this.connections = options.connections ?? memoryConnections();
    this.typing = options.typing ?? memoryTyping();
    const limiters = options.limiters ?? memoryLimiters(this.opts.now);
    this.userLimiter = limiters.bucket('handshake_user', this.opts.handshakeRatePerUser);
    this.ipLimiter = limiters.bucket('handshake_ip', this.opts.handshakeRatePerIp);
    this.handshake = new Handshake(this.opts, this.userLimiter, this.connection);
    this.admission = new SocketAdmission({
      slots: options.socketSlots ?? memorySlots(),
      caps: { perUser: this.opts.maxSocketsPerUser, perTenant: this.opts.maxSocketsPerTenant },
      ttlMs: this.opts.connectionTtlMs,
      refreshMs: this.opts.pingIntervalMs,
      now: this.opts.now,
      onError: (err) => this.opts.log?.warn({ err }, 'socket slot update failed'),
    });
    const every = (ms: number, fn: () => unknown) => {
      const t = setInterval(() => {
        Promise.resolve()
          .then(fn)
          .catch((err) => this.opts.log?.warn({ err }, 'gateway tick failed'));
      }, ms);
      t.unref();
      this.timers.push(t);
    };
    every(this.opts.presenceFlushMs, () => this.presenceBatch.flush());
    every(Math.min(250, this.opts.presenceFlushMs), () => {
      for (const s of this.degraded) if (s.checkRecovered()) this.degraded.delete(s);
    });
    every(this.opts.pingIntervalMs, () => this.refreshConnections());
    every(this.opts.largeChannelCheckMs, () => this.hints.recheck());
    // Pub/sub loses what was published while the bus was away: repair from the store.
    this.stopResync = options.bus.onResync(() => {
      this.opts.log?.warn('bus reconnected: resyncing live subscriptions from the store');
      // Every session's live subscriptions start buffering synchronously, before any read.
      const targets: ResyncTarget[] = [];
      for (const s of this.sessions) targets.push(...s.beginResync());
      void this.resync(targets);
    });
  }

  /**
   * A frame from the relay was queued to `listeners` local connections. Measured at the end
   * of the turn, after the flush that writes it (writer.ts): publish → send once per frame
   * per node, a debug line with its trace id, and the delivery span when export is on.
   */
  private frameDelivered(frame: TopicFrame, topic: string, listeners: number): void {
    const meta = frame.meta;
    if (!meta) return;
    const { log, tracing } = this.opts;
    const span = meta.traceparent
      ? tracing.start('herald.deliver', meta.traceparent, {
          kind: 'consumer',
          attributes: { 'messaging.destination.name': topic, 'herald.listeners': listeners },
        })
      : null;
    setImmediate(() => {
      this.metrics.record({ name: 'delivered', seconds: Math.max(0, Date.now() - meta.publishedAt) / 1000 });
      span?.end();
      if (log?.isLevelEnabled('debug'))
        log.debug(
          {
            trace_id: meta.trace ?? undefined,
            topic,
            type: frame.type,
            seq: frame.seq ?? undefined,
            listeners,
          },
          'frame delivered',
        );
    });
  }

  /** The token, the Origin and the per-user handshake rate (handshake.ts). */
  authorize(token: string, origin: string | undefined, host: string | undefined): Promise<AuthResult> {
    return this.handshake.authorize(token, origin, host);
  }

  /**
   * Takes a socket slot of the user (and tenant) under the caps; the caller refuses
   * with TOO_MANY_CONNECTIONS (close 4004 on WebSocket, 429 on SSE) when it is not given.
   */
  admit(tenant: string, user: string): Promise<AdmitResult> {
    return this.admission.admit(tenant, user);
  }

  // ---- reads -----------------------------------------------------------------

  async access(tenant: string, conversation: string, user: string): Promise<Access | null> {
    const row = await this.live.access(tenant, conversation, user);
    if (!row) return null;
    this.rememberKind(tenant, conversation, row.kind);
    return accessOf(row);
  }

  /** A subscribe's access check and replay in one read (one statement: LiveReader.subscribe). */
  async subscribeRead(
    tenant: string,
    conversation: string,
    user: string,
    since: number | null,
    limit: number,
  ): Promise<{ access: Access; replay: Replay } | null> {
    const r = await this.live.subscribe(tenant, conversation, user, since, limit);
    if (!r) return null;
    this.rememberKind(tenant, conversation, r.row.kind);
    const access = accessOf(r.row);
    return { access, replay: replayOf(conversation, access.head, r.events) };
  }

  /** since null: only the head (live from now). */
  async replay(tenant: string, conversation: string, since: number | null, limit: number): Promise<Replay> {
    const r = await this.live.replay(tenant, conversation, since, limit);
    return replayOf(conversation, r.head, r.events);
  }

  /** Repairs subscriptions after the bus lost messages (resync.ts). Never throws. */
  resync(targets: readonly ResyncTarget[]): Promise<void> {
    return resync(this, targets);
  }

  /** Present devices of a conversation's members (up to presenceSnapshotMax members). */
  presenceOf(tenant: string, conversation: string) {
    return this.presenceBatch.of(tenant, conversation);
  }

  /** Ages out stale devices, then publishes the queued presence: one frame per room. */
  flushPresence(): Promise<void> {
    return this.presenceBatch.flush();
  }

  private rememberKind(tenant: string, conversation: string, kind: ConversationKind): void {
    // Shared with the send use case's cache: a send after a subscribe reads no kind.
    rememberConversationKind(this.opts.deps.db, tenant, conversation, kind);
  }

  private async refreshConnections(): Promise<void> {
    const byTenant = new Map<string, string[]>();
    for (const s of this.sessions) {
      const ids = byTenant.get(s.tenant) ?? [];
      ids.push(s.id);
      byTenant.set(s.tenant, ids);
    }
    const now = this.opts.now();
    for (const [tenant, ids] of byTenant)
      await this.connections.refresh(tenant, ids, this.opts.connectionTtlMs, now);
  }

  async close(): Promise<void> {
    this.stopResync();
    this.admission.close();
    for (const t of this.timers) clearInterval(t);
    this.hints.closeAll();
    await this.hub.close();
  }
}
