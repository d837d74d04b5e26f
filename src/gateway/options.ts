// Gateway options with documented defaults. Everything time- or size-based
// is configurable so tests can tighten it; `now` is injectable for presence,
// typing and rate limits.
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { AccessTokens } from '../auth/tokens.ts';
import type { Bus } from '../bus/port.ts';
import type { DomainDeps } from '../domain/commands.ts';
import type { LimiterPort, SocketSlots } from '../limits/port.ts';
import type { ConnectionRegistry, PresenceStore, TypingStore } from '../registry/ports.ts';
import { noTracing, type Tracing } from '../tracing/tracer.ts';
import type { UserLimiter } from '../usecases/messaging.ts';
import type { MetricsOptions } from './metrics.ts';
import type { RateSpec } from './rate-limit.ts';

export type { UserLimiter };

export interface GatewayOptions {
  /** Domain dependencies (db, limits, viewing registry): the same ones the HTTP API uses. */
  deps: DomainDeps;
  bus: Bus;
  /**
   * The per-user send limit, the same instance as the HTTP API's (the host creates one):
   * a `send` frame and a POST …/messages count against one budget.
   */
  sendLimiter: UserLimiter;
  /** Verifies access tokens. */
  tokens: Pick<AccessTokens, 'verify'>;
  log?: Logger;
  presence?: PresenceStore;
  connections?: ConnectionRegistry;
  typing?: TypingStore;
  /** Handshake limits (per IP, per user): in process by default; the host passes Redis-backed ones. */
  limiters?: LimiterPort;
  /** Socket slots for the caps below: in process by default; the host passes Redis-backed ones. */
  socketSlots?: SocketSlots;
  /** This node's id in the connection registry (default: random). */
  nodeId?: string;
  /**
   * The client address for per-IP handshake limits (default: the socket's
   * remote address). Behind a proxy, derive it from X-Forwarded-For here —
   * otherwise every client shares the proxy's bucket.
   */
  clientIp?: (req: IncomingMessage) => string;
  /** Clock for presence, typing and rate limits (ms). */
  now?: () => number;
  metrics?: MetricsOptions;
  /** Delivery spans (OpenTelemetry export); default: none. */
  tracing?: Tracing;

  /** WebSocket path (default /v1/ws). */
  path?: string;
  /** How often clients should heartbeat, sent in `welcome` (default 30 s). */
  heartbeatMs?: number;
  /** Server ping interval (default 25 s). */
  pingIntervalMs?: number;
  /** Close sockets silent (no frame, no pong) for this long (default 60 s). */
  idleTimeoutMs?: number;
  /** Time allowed for the first-frame `auth` (default 5 s). */
  authTimeoutMs?: number;
  /** `token_expiring` is sent this long before the token expires (default 60 s). */
  tokenExpiringLeadMs?: number;
  /** Largest accepted frame in bytes (default 64 KiB); larger closes the socket with 1009. */
  maxPayload?: number;
  /** Queued bytes above which typing/presence are shed and `degraded` is sent (default 256 KiB). */
  softMarkBytes?: number;
  /** Queued bytes above which the socket is closed with SLOW_CONSUMER (default 4 MiB). */
  hardMarkBytes?: number;
  /** After a close frame, a socket that does not finish closing is destroyed (default 10 s). */
  closeGraceMs?: number;
  /** Client frames per socket (default 30/s, burst 60); beyond: close RATE_LIMITED. */
  frameRate?: RateSpec;
  /** Handshakes per client IP (default 10/s, burst 50). */
  handshakeRatePerIp?: RateSpec;
  /** Handshakes per tenant user (default 1/s, burst 20). */
  handshakeRatePerUser?: RateSpec;
  /** Default time drain() waits for clients to leave before closing them (default 10 s). */
  drainGraceMs?: number;
  /** `reconnect_after_ms` is uniformly random in [0, drainJitterMs) (default 10 s). */
  drainJitterMs?: number;
  /** Presence deltas are batched per room this long (default 1 s). */
  presenceFlushMs?: number;
  /** Presence is listed on subscribe for conversations up to this many members (default 500). */
  presenceSnapshotMax?: number;
  /** Subscriptions per socket (default 1000). */
  maxSubscriptions?: number;
  /** At most one `inbox_hint` per large channel per this many ms, the latest wins (default 1 s). */
  inboxHintIntervalMs?: number;
  /** How often connections' small channels are checked for growth past the threshold (default 60 s). */
  largeChannelCheckMs?: number;
  /** Minimum gap between two `typing` publishes of one user in one conversation (default 1 s). */
  typingIntervalMs?: number;
  /** Connection registry TTL (default 3 × pingIntervalMs); socket slots expire alike. */
  connectionTtlMs?: number;
  /** Concurrent sockets (WebSocket + SSE) per user; beyond: 4004 / 429 TOO_MANY_CONNECTIONS (default 0 = no cap). */
  maxSocketsPerUser?: number;
  /** Concurrent sockets per tenant (default 0 = no cap). */
  maxSocketsPerTenant?: number;
}

export type ResolvedOptions = Required<
  Omit<
    GatewayOptions,
    'log' | 'presence' | 'connections' | 'typing' | 'metrics' | 'nodeId' | 'limiters' | 'socketSlots'
  >
> &
  Pick<GatewayOptions, 'log' | 'metrics'> & { nodeId: string };

export function resolveOptions(o: GatewayOptions, nodeId: string): ResolvedOptions {
  const pingIntervalMs = o.pingIntervalMs ?? 25_000;
  return {
    deps: o.deps,
    bus: o.bus,
    sendLimiter: o.sendLimiter,
    tokens: o.tokens,
    log: o.log,
    metrics: o.metrics,
    tracing: o.tracing ?? noTracing,
    nodeId,
    now: o.now ?? Date.now,
    clientIp: o.clientIp ?? ((req) => req.socket.remoteAddress ?? 'unknown'),
    path: o.path ?? '/v1/ws',
    heartbeatMs: o.heartbeatMs ?? 30_000,
    pingIntervalMs,
    idleTimeoutMs: o.idleTimeoutMs ?? 60_000,
    authTimeoutMs: o.authTimeoutMs ?? 5_000,
    tokenExpiringLeadMs: o.tokenExpiringLeadMs ?? 60_000,
    maxPayload: o.maxPayload ?? 64 * 1024,
    softMarkBytes: o.softMarkBytes ?? 256 * 1024,
    hardMarkBytes: o.hardMarkBytes ?? 4 * 1024 * 1024,
    closeGraceMs: o.closeGraceMs ?? 10_000,
    frameRate: o.frameRate ?? { perSec: 30, burst: 60 },
    handshakeRatePerIp: o.handshakeRatePerIp ?? { perSec: 10, burst: 50 },
    handshakeRatePerUser: o.handshakeRatePerUser ?? { perSec: 1, burst: 20 },
    drainGraceMs: o.drainGraceMs ?? 10_000,
    drainJitterMs: o.drainJitterMs ?? 10_000,
    presenceFlushMs: o.presenceFlushMs ?? 1_000,
    presenceSnapshotMax: o.presenceSnapshotMax ?? 500,
    maxSubscriptions: o.maxSubscriptions ?? 1000,
    typingIntervalMs: o.typingIntervalMs ?? 1_000,
    inboxHintIntervalMs: o.inboxHintIntervalMs ?? 1_000,
    largeChannelCheckMs: o.largeChannelCheckMs ?? 60_000,
    connectionTtlMs: o.connectionTtlMs ?? 3 * pingIntervalMs,
    maxSocketsPerUser: o.maxSocketsPerUser ?? 0,
    maxSocketsPerTenant: o.maxSocketsPerTenant ?? 0,
  };
}
