// The WebSocket gateway on GET /v1/ws. createGateway() returns something a
// host mounts on any http.Server (attach, or handleUpgrade from its own
// 'upgrade' listener), drains on deploy and closes. One connection's life is
// ws-connection.ts; sessions, replay, presence and backpressure live in
// session.ts and its parts, on the core shared with SSE (core.ts).
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { bearer } from '../auth/secrets.ts';
import { CLOSE, type PresenceEntry } from '../protocol/index.ts';
import { GatewayCore } from './core.ts';
import { HandshakePacer } from './handshake-pacer.ts';
import type { HandshakeFailure, MetricsSnapshot } from './metrics.ts';
import type { GatewayOptions } from './options.ts';
import type { Session } from './session.ts';
import { refuse, SUBPROTOCOL, subprotocolToken } from './upgrade.ts';
import { closeSocket, onSocket, type WsNode } from './ws-connection.ts';

export { deviceIdOf, SUBPROTOCOL } from './upgrade.ts';

export interface Gateway {
  /** Handles an HTTP upgrade for the gateway path; other paths are answered 404. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Listens for upgrades on `server` for the gateway path; returns a detach function. */
  attach(server: Server): () => void;
  /**
   * Stops accepting, sends `drain {reconnect_after_ms}` (jittered) to every
   * connection, waits up to graceMs for clients to leave, closes the rest with CLOSE.DRAIN.
   */
  drain(opts?: { graceMs?: number }): Promise<void>;
  /** Closes every connection (CLOSE.DRAIN) and stops all timers. */
  close(): Promise<void>;
  /** Present devices of a conversation's members. */
  presenceOf(tenant: string, conversation: string): Promise<PresenceEntry[]>;
  /** Users typing in a conversation right now. */
  typingIn(tenant: string, conversation: string): Promise<string[]>;
  /** Open connections on this node (WebSocket and SSE). */
  readonly connectionCount: number;
  metrics(): MetricsSnapshot;
  /** Shared core, for the SSE route. */
  readonly core: GatewayCore<Session>;
}

function destroyOnError(this: Duplex): void {
  this.destroy();
}

/** A drained session that has not left by its reconnect_after_ms is closed this much later. */
const DRAIN_CLOSE_SLACK_MS = 250;

export function createGateway(options: GatewayOptions): Gateway {
  const core = new GatewayCore<Session>(options);
  const { opts } = core;
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: opts.maxPayload,
    perMessageDeflate: false,
    clientTracking: false,
    // Echo `herald.v1` when offered, never the token-bearing subprotocol.
    handleProtocols: (offered) => (offered.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
  });
  const sockets = new Map<WebSocket, Session | null>();
  const node: WsNode = { core, sockets };
  const pacer = new HandshakePacer();

  const fail = (reason: HandshakeFailure) => core.metrics.record({ name: 'handshake_failed', reason });

  function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // Node's HTTP server drops its error listener from an upgraded socket: until ws takes the
    // socket over, a client that resets it (while its upgrade waits for the limiter or its
    // turn, or as it is refused) would raise an unhandled 'error' and take the process down.
    socket.on('error', destroyOnError);
    const url = new URL(req.url ?? '/', 'http://gateway');
    if (url.pathname !== opts.path) {
      fail('bad_path');
      refuse(socket, 404, 'Not Found');
      return;
    }
    if (core.draining) {
      fail('draining');
      refuse(socket, 503, 'Service Unavailable', { 'Retry-After': '1' });
      return;
    }
    // Per-IP handshakes: cluster-wide with Redis, so a flood spread over nodes meets one budget.
    core.ipLimiter
      .take(opts.clientIp(req))
      .then((v) => {
        if (!v.ok) {
          fail('rate_limited_ip');
          refuse(socket, 429, 'Too Many Requests', { 'Retry-After': String(v.retryAfterSec) });
          return;
        }
        pacer.admit(() => {
          if (socket.destroyed) return;
          if (core.draining) {
            fail('draining');
            refuse(socket, 503, 'Service Unavailable', { 'Retry-After': '1' });
            return;
          }
          // The token never reaches a log line: only the path is ever logged.
          const token =
            bearer(req.headers.authorization) ??
            subprotocolToken(req.headers['sec-websocket-protocol']) ??
            url.searchParams.get('access_token');
          socket.off('error', destroyOnError); // ws listens from here on
          wss.handleUpgrade(req, socket, head, (ws) => onSocket(node, ws, req, url, token));
        });
      })
      .catch((err) => {
        opts.log?.error({ err }, 'gateway upgrade failed');
        fail('internal');
        refuse(socket, 500, 'Internal Server Error');
      });
  }

  // Server pings; silent sockets are closed with IDLE_TIMEOUT.
  const pinger = setInterval(() => {
    const now = Date.now();
    for (const [ws, s] of sockets) {
      if (!s) continue;
      if (now - s.lastSeen > opts.idleTimeoutMs) s.close(CLOSE.IDLE_TIMEOUT, 'idle');
      else if (ws.readyState === WebSocket.OPEN) ws.ping();
    }
  }, opts.pingIntervalMs);
  pinger.unref();

  async function waitEmpty(ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (core.sessions.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  }

  const gateway: Gateway = {
    core,
    handleUpgrade,
    attach(server) {
      const listener = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        const path = new URL(req.url ?? '/', 'http://gateway').pathname;
        if (path === opts.path || server.listenerCount('upgrade') === 1) handleUpgrade(req, socket, head);
      };
      server.on('upgrade', listener);
      return () => server.off('upgrade', listener);
    },
    async drain(o = {}) {
      core.draining = true;
      const graceMs = o.graceMs ?? opts.drainGraceMs;
      // Reconnects are spread over the grace, never beyond it: a client told to come back
      // after the node has gone would be cut off first. Each session is closed at its own
      // time too, so a client that ignores `drain` (an EventSource) neither holds the node
      // for the whole grace nor reconnects in one herd with the others.
      const jitterMs = Math.min(opts.drainJitterMs, graceMs);
      const timers: NodeJS.Timeout[] = [];
      for (const s of core.sessions) {
        const after = Math.floor(Math.random() * jitterMs);
        s.send({ type: 'drain', reconnect_after_ms: after });
        timers.push(setTimeout(() => s.close(CLOSE.DRAIN, 'draining'), after + DRAIN_CLOSE_SLACK_MS));
      }
      await waitEmpty(graceMs);
      for (const t of timers) clearTimeout(t);
      for (const s of [...core.sessions]) s.close(CLOSE.DRAIN, 'draining');
      for (const ws of sockets.keys()) closeSocket(node, ws, CLOSE.DRAIN, 'draining');
      await waitEmpty(Math.min(opts.closeGraceMs, 2_000));
    },
    async close() {
      core.draining = true;
      clearInterval(pinger);
      for (const s of [...core.sessions]) s.close(CLOSE.DRAIN, 'shutting down');
      for (const ws of sockets.keys()) closeSocket(node, ws, CLOSE.DRAIN, 'shutting down');
      await waitEmpty(1_000);
      for (const ws of sockets.keys()) ws.terminate();
      for (const s of [...core.sessions]) await s.dispose();
      core.sessions.clear();
      await core.close();
      wss.close();
    },
    presenceOf: (tenant, conversation) => core.presenceOf(tenant, conversation),
    typingIn: (tenant, conversation) => core.typing.list(tenant, conversation, opts.now()),
    get connectionCount() {
      return core.sessions.size;
    },
    metrics: () => core.metrics.snapshot(),
  };
  return gateway;
}
