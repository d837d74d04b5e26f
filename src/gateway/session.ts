// One client connection (a WebSocket or an SSE stream), transport-agnostic. It puts its
// parts together — the outgoing queue (outbound.ts), the subscriptions (rooms.ts), the
// ephemeral signals (signals.ts) and the frame router (frame-router.ts) — and owns what
// is the connection's own: the personal room, the registry entry and token expiry. The
// transport supplies a Sink; frames from the bus arrive as the same bytes for every session.
import {
  CLOSE,
  type ErrorCode,
  HeraldError,
  type PresenceStatus,
  type ServerFrame,
  topics,
} from '../protocol/index.ts';
import type { GatewayCore } from './core.ts';
import type { FrameContext, SessionFrame } from './frame-context.ts';
import { FrameRouter } from './frame-router.ts';
import { MemberHints } from './member-hints.ts';
import type { MetricEvent, Priority } from './metrics.ts';
import { Outbound, type OutboundHooks } from './outbound.ts';
import type { CoreSession, ResyncTarget, SessionIdentity, Sink } from './ports.ts';
import { Rooms, type RoomsOwner } from './rooms.ts';
import { Signals } from './signals.ts';
import type { FrameListener, TopicFrame } from './topic-hub.ts';

export type { ResyncTarget, SessionIdentity, Sink } from './ports.ts';

const MAX_TIMER_MS = 2_147_483_647;

/** Expiry timer callbacks: module functions with the session as an argument, not closures per session. */
function recheckExpiry(s: Session, expMs: number): void {
  s.armExpiry(expMs);
}

function tokenExpiring(s: Session, expMs: number): void {
  s.send({ type: 'token_expiring', expires_at: Math.floor(expMs / 1000) });
  s.armExpiryClose(expMs);
}

function tokenExpired(s: Session): void {
  s.close(CLOSE.TOKEN_EXPIRED, 'token expired');
}

// The session is itself what its parts call back (OutboundHooks, RoomsOwner) and the personal
// room's listener: no callback objects or closures per connection.
export class Session implements CoreSession, FrameContext, OutboundHooks, RoomsOwner, FrameListener {
  readonly id: string;
  readonly tenant: string;
  readonly user: string;
  readonly device: string;
  expiresMs: number;
  /** Last time the client was heard from (frames, pongs); real time. */
  lastSeen = Date.now();

  readonly out: Outbound;
  readonly rooms: Rooms;
  readonly signals: Signals;
  /** Large channels this user is a member of: inbox hints (member-hints.ts). */
  readonly hints: MemberHints;
  private readonly router: FrameRouter;
  /** Listening to the personal room (the session is its listener: topicFrame). */
  private personal = false;
  /** Personal-room frames that arrive before `welcome` is sent are held here. */
  private early: TopicFrame[] | null = [];
  private disposed = false;
  private expiringTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly core: GatewayCore,
    readonly sink: Sink,
    ident: SessionIdentity,
  ) {
    this.id = ident.id;
    this.tenant = ident.tenant;
    this.user = ident.user;
    this.device = ident.device;
    this.expiresMs = ident.expiresMs;
    this.out = new Outbound(sink, core.opts, this);
    this.rooms = new Rooms(core, this, this.out);
    this.signals = new Signals(core, this, this.rooms, this.out);
    this.hints = new MemberHints(core, this, this.signals, this.out);
    this.router = new FrameRouter(this);
  }

  /** OutboundHooks: a metric of this connection's queue. */
  recordMetric(e: MetricEvent): void {
    this.core.metrics.record(e);
  }

  /** OutboundHooks: over the soft mark; the maintenance tick checks until it has drained. */
  onDegraded(): void {
    this.core.degraded.add(this);
  }

  /** OutboundHooks: closing or cut. */
  onClosing(): void {
    this.release();
  }

  /** RoomsOwner: a subscription went live (presence). */
  subscribed(conversation: string, memberCount: number): Promise<void> {
    return this.signals.subscribed(conversation, memberCount);
  }

  get isClosing(): boolean {
    return this.out.isClosed;
  }

  get subscriptionCount(): number {
    return this.rooms.size;
  }

  /** Joins the personal room, registers the connection, records presence, arms expiry. */
  async start(): Promise<void> {
    const { hub, opts } = this.core;
    const topic = topics.user(this.tenant, this.user);
    await hub.listen(topic, this);
    if (this.isClosing) {
      hub.unlisten(topic, this);
      return;
    }
    this.personal = true;
    // Large-channel hints start beside the connect, not in its way: a connect reads nothing
    // from the store before `welcome` (a connect storm is bound by it).
    void this.hints
      .start()
      .catch((err) => opts.log?.warn({ err, connection: this.id }, 'large-channel hints failed'));
    await this.core.connections.register(
      this.tenant,
      { user_id: this.user, device_id: this.device, connection_id: this.id, node_id: opts.nodeId },
      opts.connectionTtlMs,
      opts.now(),
    );
    // The connection may have gone meanwhile. If dispose() already ran, its unregister may
    // have preceded this register: undo it here. Either way no timer may keep a dead session.
    if (this.isClosing) {
      if (this.disposed) await this.unregister();
      return;
    }
    await this.signals.heartbeat(undefined, undefined);
    if (this.isClosing) return;
    this.armExpiry(this.expiresMs);
  }

  /** A frame of the personal room. */
  topicFrame(f: TopicFrame): void {
    this.hints.personal(f);
    if (this.early) this.early.push(f);
    else this.out.emit(f, null);
  }

  /** Sends `welcome`, then whatever the personal room delivered meanwhile. */
  welcome(frame: Extract<ServerFrame, { type: 'welcome' }>): void {
    this.send(frame);
    const early = this.early ?? [];
    this.early = null;
    for (const f of early) this.out.emit(f, null);
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
    if (this.isClosing) return;
    const left = expMs - Date.now();
    // setTimeout holds at most ~24.8 days; longer-lived (host) tokens are re-checked then.
    if (left > MAX_TIMER_MS) {
      this.expiringTimer = setTimeout(recheckExpiry, MAX_TIMER_MS, this, expMs);
      this.expiringTimer.unref();
      return;
    }
    // The hint goes `lead` before expiry, but never before two thirds of the remaining life: a
    // token living less than `lead` would be told at once, and again after every renewal.
    const lead = Math.min(this.core.opts.tokenExpiringLeadMs, left / 3);
    this.expiringTimer = setTimeout(tokenExpiring, Math.max(0, left - lead), this, expMs);
    this.expiringTimer.unref();
  }

  /** After `token_expiring`: the TOKEN_EXPIRED close at expiry. */
  armExpiryClose(expMs: number): void {
    this.expiringTimer = setTimeout(tokenExpired, Math.max(0, expMs - Date.now()), this);
    this.expiringTimer.unref();
  }

  /** Handles one authenticated client frame (frame-router.ts); errors become `error` frames. */
  handle(frame: SessionFrame): Promise<void> {
    return this.router.handle(frame);
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

  /** Sends a frame built for this session alone (acks, errors, control). */
  send(frame: ServerFrame, priority: Priority = 'message'): void {
    this.out.send(frame, priority);
  }

  /** Subscribe with replay (rooms.ts); SSE subscribes its stream's conversations this way. */
  subscribe(conversation: string, since: number | undefined): Promise<void> {
    return this.rooms.subscribe(conversation, since);
  }

  unsubscribe(conversation: string, code: ErrorCode | 'UNSUBSCRIBED'): void {
    this.rooms.unsubscribe(conversation, code);
  }

  heartbeat(status: PresenceStatus | undefined, resource: string | undefined): Promise<void> {
    return this.signals.heartbeat(status, resource);
  }

  beginResync(): ResyncTarget[] {
    return this.rooms.beginResync();
  }

  checkRecovered(): boolean {
    return this.out.checkRecovered();
  }

  /** Closes the connection (once); the transport calls dispose() when it is gone. */
  close(code: number, reason: string): void {
    this.out.close(code, reason);
  }

  /** Closing or cut: nothing feeds the queue any more. */
  private release(): void {
    this.rooms.dropAll();
    this.hints.stop();
    if (this.personal) this.core.hub.unlisten(topics.user(this.tenant, this.user), this);
    this.personal = false;
    if (this.expiringTimer) clearTimeout(this.expiringTimer);
  }

  /** The connection is gone: release everything. Presence is left to age out (disconnect is not trusted). */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.out.stop();
    this.release();
    this.core.degraded.delete(this);
    try {
      await this.core.connections.unregister(this.tenant, this.id);
      await this.signals.gone();
    } catch (err) {
      this.core.opts.log?.warn({ err, connection: this.id }, 'session cleanup failed');
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
