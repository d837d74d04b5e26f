// What every session shares on one node: the topic hub, the stores, metrics,
// the presence batcher, and the write commands (same domain commands as
// HTTP). Transport-independent: the WebSocket server and the SSE route both
// build sessions on it.
import { randomUUID } from 'node:crypto';
import type { AccessClaims } from '../auth/tokens.ts';
import { commandFor, execute } from '../domain/commands.ts';
import { markDelivered } from '../domain/delivery-marker.ts';
import { markRead } from '../domain/read-marker.ts';
import { memoryLimiters, memorySlots } from '../limits/memory.ts';
import type { Limiter } from '../limits/port.ts';
import { type AdmitResult, SocketAdmission } from '../limits/socket-caps.ts';
import {
  CLOSE,
  type ClientFrame,
  type ConversationKind,
  type ErrorCode,
  HeraldError,
  type Message,
  type PresenceEntry,
  type ServerFrame,
  topics,
} from '../protocol/index.ts';
import { memoryConnections } from '../registry/memory-connections.ts';
import { memoryPresence } from '../registry/memory-presence.ts';
import { memoryTyping } from '../registry/memory-typing.ts';
import type { ConnectionRegistry, PresenceStore, TypingStore } from '../registry/ports.ts';
import { newTraceparent } from '../tracing/context.ts';
import { GatewayMetrics, type HandshakeFailure } from './metrics.ts';
import { type GatewayOptions, type ResolvedOptions, resolveOptions } from './options.ts';
import {
  type Access,
  conversationAccess,
  memberIdsOf,
  type Replay,
  replayEvents,
  subscribeRead,
  tenantOrigins,
} from './queries.ts';
import type { ResyncTarget, Session } from './session.ts';
import { storedEventFrame, type TopicFrame, TopicHub } from './topic-hub.ts';
import { FlushScheduler } from './writer.ts';

export interface AuthFailure {
  reason: HandshakeFailure;
  code: ErrorCode;
  close: number;
  message: string;
}

export type AuthResult = { ok: true; claims: AccessClaims } | ({ ok: false } & AuthFailure);

const ORIGIN_CACHE_MS = 30_000;
const KIND_CACHE_MAX = 50_000;
/** Conversations resynced at once after a bus reconnect (each is one store read per page). */
const RESYNC_CONCURRENCY = 4;

export class GatewayCore {
  readonly opts: ResolvedOptions;
  readonly hub: TopicHub;
  readonly metrics: GatewayMetrics;
  readonly presence: PresenceStore;
  readonly connections: ConnectionRegistry;
  readonly typing: TypingStore;
  readonly sessions = new Set<Session>();
  /** Sessions over the soft mark, checked by the maintenance tick. */
  readonly degraded = new Set<Session>();
  /** Handshakes per tenant user and per client IP (cluster-wide when the host passes Redis limiters). */
  readonly userLimiter: Limiter;
  readonly ipLimiter: Limiter;
  /** Socket caps per user and per tenant, shared by WebSocket and SSE. */
  readonly admission: SocketAdmission;
  /** Flushes every connection's queued frames once per event-loop turn. */
  readonly flusher = new FlushScheduler();
  /** A connection's queue is handed over within the tick past this size (writer.ts). */
  readonly flushAtBytes: number;
  /** Set by drain(): new connections are refused. */
  draining = false;

  private readonly kinds = new Map<string, ConversationKind>();
  private readonly origins = new Map<string, { list: string[] | null; at: number }>();
  private readonly pendingPresence = new Map<
    string,
    { tenant: string; conversation: string; entries: Map<string, PresenceEntry> }
  >();
  /** tenant → device → rooms its presence was announced in (to announce it offline there). */
  private readonly announced = new Map<string, Map<string, Set<string>>>();
  private readonly timers: NodeJS.Timeout[] = [];
  /** Presence snapshots shared by a room's new subscribers, by ephemeral topic (presenceSnapshot). */
  private readonly snapshots = new Map<string, Promise<PresenceEntry[]>>();

  constructor(options: GatewayOptions) {
    this.opts = resolveOptions(options, options.nodeId ?? randomUUID());
    this.metrics = new GatewayMetrics(options.metrics);
    const sessions = this.sessions;
    this.metrics.watchQueues(function* () {
      for (const s of sessions) yield s.sink.bufferedAmount();
    });
    this.flushAtBytes = Math.max(1024, Math.min(64 * 1024, Math.floor(this.opts.softMarkBytes / 4)));
    this.hub = new TopicHub(
      options.bus,
      (err, topic) => this.opts.log?.warn({ err, topic }, 'topic delivery failed'),
      () => this.flusher.eager(),
      (_frame, topic) => this.snapshots.delete(topic),
      (frame, topic, listeners) => this.frameDelivered(frame, topic, listeners),
    );
    this.presence = options.presence ?? memoryPresence();
    this.connections = options.connections ?? memoryConnections();
    this.typing = options.typing ?? memoryTyping();
    const limiters = options.limiters ?? memoryLimiters(this.opts.now);
    this.userLimiter = limiters.bucket('handshake_user', this.opts.handshakeRatePerUser);
    this.ipLimiter = limiters.bucket('handshake_ip', this.opts.handshakeRatePerIp);
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
    every(this.opts.presenceFlushMs, () => this.flushPresence());
    every(Math.min(250, this.opts.presenceFlushMs), () => {
      for (const s of this.degraded) if (s.checkRecovered()) this.degraded.delete(s);
    });
    every(this.opts.pingIntervalMs, () => this.refreshConnections());
    // Pub/sub loses what was published while the bus was away: repair from the store.
    this.stopResync = options.bus.onResync(() => {
      this.opts.log?.warn('bus reconnected: resyncing live subscriptions from the store');
      // Every session's live subscriptions start buffering synchronously, before any read.
      const targets: ResyncTarget[] = [];
      for (const s of this.sessions) targets.push(...s.beginResync());
      void this.resync(targets);
    });
  }

  private readonly stopResync: () => void;

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

  // ---- auth ------------------------------------------------------------------

  /**
   * Verifies the token, the Origin against the tenant's allow-list and the
   * per-user handshake rate. The token itself is never logged.
   */
  async authorize(token: string, origin: string | undefined, host: string | undefined): Promise<AuthResult> {
    let claims: AccessClaims;
    try {
      claims = await this.opts.tokens.verify(token);
    } catch (err) {
      // A store outage is not a bad token: the caller reports it as STORE_UNAVAILABLE.
      if (err instanceof HeraldError && err.code === 'STORE_UNAVAILABLE') throw err;
      const expired = err instanceof HeraldError && err.code === 'TOKEN_EXPIRED';
      return expired
        ? {
            ok: false,
            reason: 'token_expired',
            code: 'TOKEN_EXPIRED',
            close: CLOSE.TOKEN_EXPIRED,
            message: 'The access token has expired.',
          }
        : {
            ok: false,
            reason: 'unauthenticated',
            code: 'UNAUTHENTICATED',
            close: CLOSE.UNAUTHENTICATED,
            message: 'Invalid access token.',
          };
    }
    const allowed = await this.allowedOrigins(claims.tenant_id);
    if (allowed === null) {
      return {
        ok: false,
        reason: 'tenant_not_found',
        code: 'UNAUTHENTICATED',
        close: CLOSE.UNAUTHENTICATED,
        message: 'Unknown tenant.',
      };
    }
    if (!originAllowed(origin, host, allowed)) {
      return {
        ok: false,
        reason: 'origin',
        code: 'ORIGIN_NOT_ALLOWED',
        close: CLOSE.ORIGIN_NOT_ALLOWED,
        message: 'The Origin is not on the tenant allow-list.',
      };
    }
    if (!(await this.userLimiter.take(`${claims.tenant_id}:${claims.user_id}`)).ok) {
      return {
        ok: false,
        reason: 'rate_limited_user',
        code: 'RATE_LIMITED',
        close: CLOSE.RATE_LIMITED,
        message: 'Too many connection attempts.',
      };
    }
    return { ok: true, claims };
  }

  /**
   * Takes a socket slot of the user (and tenant) under the caps; the caller refuses
   * with TOO_MANY_CONNECTIONS (close 4004 on WebSocket, 429 on SSE) when it is not given.
   */
  admit(tenant: string, user: string): Promise<AdmitResult> {
    return this.admission.admit(tenant, user);
  }

  private async allowedOrigins(tenant: string): Promise<string[] | null> {
    const now = Date.now();
    const hit = this.origins.get(tenant);
    if (hit && now - hit.at < ORIGIN_CACHE_MS) return hit.list;
    const list = await tenantOrigins(this.opts.deps.db, tenant);
    if (this.origins.size > 10_000) this.origins.clear();
    this.origins.set(tenant, { list, at: now });
    return list;
  }

  // ---- reads -----------------------------------------------------------------

  async access(tenant: string, conversation: string, user: string): Promise<Access | null> {
    const a = await conversationAccess(this.opts.deps.db, tenant, conversation, user);
    if (a) this.rememberKind(tenant, conversation, a.kind);
    return a;
  }

  /** A subscribe's access check and replay in one read (queries.ts subscribeRead). */
  async subscribeRead(
    tenant: string,
    conversation: string,
    user: string,
    since: number | null,
    limit: number,
  ): Promise<{ access: Access; replay: Replay } | null> {
    const r = await subscribeRead(this.opts.deps.db, tenant, conversation, user, since, limit);
    if (r) this.rememberKind(tenant, conversation, r.access.kind);
    return r;
  }

  /** since null: only the head (live from now). */
  replay(tenant: string, conversation: string, since: number | null, limit: number): Promise<Replay> {
    return replayEvents(this.opts.deps.db, tenant, conversation, since ?? 0, since === null ? 0 : limit);
  }

  /**
   * Repairs subscriptions after the bus lost messages: one store read (per page) per
   * conversation, from the lowest lastSeq among this node's subscribers of it, offered to
   * every one of them (each keeps what is past its own lastSeq); then each goes live.
   * Never throws: a failed read leaves the gap to the client's gap detection.
   */
  async resync(targets: readonly ResyncTarget[]): Promise<void> {
    const byTopic = new Map<string, ResyncTarget[]>();
    for (const t of targets) {
      const key = `${t.tenant}\0${t.conversation}`;
      const list = byTopic.get(key);
      if (list) list.push(t);
      else byTopic.set(key, [t]);
    }
    const queue = [...byTopic.values()];
    const worker = async () => {
      for (let group = queue.shift(); group; group = queue.shift()) {
        try {
          await this.resyncTopic(group);
        } catch (err) {
          this.opts.log?.warn({ err, conversation: group[0].conversation }, 'resync failed');
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(RESYNC_CONCURRENCY, queue.length) }, worker));
  }

  private async resyncTopic(targets: ResyncTarget[]): Promise<void> {
    const { tenant, conversation } = targets[0];
    const limit = this.opts.deps.limits.replayLimit;
    let open = targets;
    let replayed = 0;
    const started = performance.now();
    try {
      let since = open.reduce((min, t) => Math.min(min, t.since), Number.POSITIVE_INFINITY);
      for (;;) {
        const page = await this.replay(tenant, conversation, since, limit);
        const frames = page.events.map((e) => storedEventFrame(conversation, e.seq, e.frame));
        replayed += frames.length;
        open = open.filter((t) => t.offer(frames));
        if (open.length === 0 || page.events.length < limit) break;
        since = page.events[page.events.length - 1].seq;
      }
    } finally {
      for (const t of targets) t.finish();
      this.metrics.record({ name: 'replay', events: replayed });
      const seconds = (performance.now() - started) / 1000;
      this.metrics.record({ name: 'catchup', kind: 'resync', events: replayed, seconds });
    }
  }

  /** Present devices of a conversation's members (up to presenceSnapshotMax members). */
  async presenceOf(tenant: string, conversation: string): Promise<PresenceEntry[]> {
    const members = await memberIdsOf(this.opts.deps.db, tenant, conversation, this.opts.presenceSnapshotMax);
    return this.presence.list(tenant, members, this.opts.now());
  }

  /**
   * The presence snapshot a subscriber gets, shared by every subscriber of the room until the
   * room's next presence frame passes through this node (or presenceFlushMs at most). Without
   * it, N members joining a room cost N member lists and N presence reads: O(N²) for a room
   * (a 500-member room's connect storm read 250,000 rows). Sharing loses nothing: a change
   * after the snapshot was read is queued for the room's next presence frame, which evicts the
   * snapshot when it passes here — so whoever subscribes after that frame reads afresh, and
   * whoever subscribed before it receives the frame live.
   */
  presenceSnapshot(tenant: string, conversation: string): Promise<PresenceEntry[]> {
    const key = topics.ephemeral(tenant, conversation);
    const hit = this.snapshots.get(key);
    if (hit) return hit;
    const p = this.presenceOf(tenant, conversation);
    this.snapshots.set(key, p);
    const evict = () => {
      if (this.snapshots.get(key) === p) this.snapshots.delete(key);
    };
    p.catch(evict);
    setTimeout(evict, this.opts.presenceFlushMs).unref();
    return p;
  }

  // ---- writes (same commands as HTTP) ----------------------------------------

  private rememberKind(tenant: string, conversation: string, kind: ConversationKind): void {
    if (this.kinds.size >= KIND_CACHE_MAX) this.kinds.clear();
    this.kinds.set(`${tenant}\0${conversation}`, kind); // A conversation's kind never changes.
  }

  private async kindOf(tenant: string, conversation: string, user: string): Promise<ConversationKind> {
    const k = this.kinds.get(`${tenant}\0${conversation}`);
    if (k) return k;
    const a = await this.access(tenant, conversation, user);
    if (!a) throw new HeraldError('CONVERSATION_NOT_FOUND');
    return a.kind;
  }

  /**
   * Routes a `send` frame by conversation kind to the domain command (commandFor, as
   * HTTP). The per-user send limit is the one HTTP uses, checked before anything is read
   * or written: more sockets do not mean more sends.
   */
  async send(s: Session, f: Extract<ClientFrame, { type: 'send' }>): Promise<Message> {
    await this.opts.sendLimiter.take(s.tenant, s.user);
    // The frame is the protocol's message input plus where it goes (one schema, both transports).
    const { type: _frame, conversation: _to, ...input } = f;
    const kind = await this.kindOf(s.tenant, f.conversation, s.user);
    // A `send` frame starts its own trace (WebSocket frames carry no headers).
    const cmd = commandFor(kind, s.user, f.conversation, input);
    const res = await execute(this.opts.deps, s.tenant, cmd, newTraceparent());
    return res.message;
  }

  async read(s: Session, conversation: string, seq: number): Promise<void> {
    await markRead(this.opts.deps, s.tenant, s.user, conversation, seq);
  }

  /** A coalesced ack of what the client applied: one statement, a write only when it moves. */
  async delivered(s: Session, conversation: string, seq: number): Promise<void> {
    await markDelivered(this.opts.deps, s.tenant, s.user, conversation, seq);
  }

  // ---- presence batching -----------------------------------------------------

  /** Queues a presence delta for a room; flushed about once per presenceFlushMs. */
  queuePresence(tenant: string, conversation: string, entry: PresenceEntry): void {
    const key = `${tenant}\0${conversation}`;
    let room = this.pendingPresence.get(key);
    if (!room) {
      room = { tenant, conversation, entries: new Map() };
      this.pendingPresence.set(key, room);
    }
    const dev = `${entry.user_id}\0${entry.device_id}`;
    room.entries.set(dev, entry);
    if (entry.status === 'offline') return;
    let devices = this.announced.get(tenant);
    if (!devices) {
      devices = new Map();
      this.announced.set(tenant, devices);
    }
    let rooms = devices.get(dev);
    if (!rooms) {
      rooms = new Set();
      devices.set(dev, rooms);
    }
    rooms.add(conversation);
  }

  /** Ages out stale devices (announcing them offline), then publishes one frame per room. */
  async flushPresence(): Promise<void> {
    const now = this.opts.now();
    for (const [tenant, devices] of this.announced) {
      const gone = await this.presence.ageOut(tenant, now);
      for (const d of gone) {
        const dev = `${d.user_id}\0${d.device_id}`;
        const rooms = devices.get(dev);
        devices.delete(dev);
        for (const conversation of rooms ?? []) {
          this.queuePresence(tenant, conversation, {
            ...d,
            status: 'offline',
            resource: null,
            last_seen_ms: now,
          });
        }
      }
      if (devices.size === 0) this.announced.delete(tenant);
    }
    const rooms = [...this.pendingPresence.values()];
    this.pendingPresence.clear();
    for (const r of rooms) {
      const frame: ServerFrame = {
        type: 'presence',
        conversation: r.conversation,
        entries: [...r.entries.values()],
      };
      await this.opts.bus.publish(topics.ephemeral(r.tenant, r.conversation), JSON.stringify(frame));
    }
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
    await this.hub.close();
  }
}

/**
 * Origin policy: a request without Origin (native and server clients; browsers
 * always send one) is allowed; a same-origin page (Origin host = Host) is
 * allowed; otherwise the Origin must be on the tenant's allow-list, where "*"
 * allows any. An empty list therefore admits no cross-origin browser page.
 */
export function originAllowed(
  origin: string | undefined,
  host: string | undefined,
  allowed: readonly string[],
): boolean {
  if (!origin) return true;
  const o = origin.trim().toLowerCase().replace(/\/+$/, '');
  if (allowed.includes('*')) return true;
  if (allowed.some((a) => a.trim().toLowerCase().replace(/\/+$/, '') === o)) return true;
  if (host) {
    try {
      if (new URL(o).host === host.toLowerCase()) return true;
    } catch {
      return false;
    }
  }
  return false;
}
