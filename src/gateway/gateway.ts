// The WebSocket gateway on GET /v1/ws. createGateway() returns something a
// host mounts on any http.Server (attach, or handleUpgrade from its own
// 'upgrade' listener), drains on deploy and closes. Sessions, replay,
// presence and backpressure live in session.ts/core.ts, shared with SSE.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { bearer } from '../auth/secrets.ts';
import type { Lease } from '../limits/socket-caps.ts';
import {
  CLOSE,
  type ErrorCode,
  HeraldError,
  PROTOCOL_VERSION,
  type PresenceEntry,
  type ServerFrame,
  type WelcomeLimits,
} from '../protocol/index.ts';
import { parseClientFrame } from './client-frames.ts';
import { GatewayCore } from './core.ts';
import type { HandshakeFailure, MetricsSnapshot } from './metrics.ts';
import type { GatewayOptions, ResolvedOptions } from './options.ts';
import { TokenBucket } from './rate-limit.ts';
import { Session, type Sink } from './session.ts';
import { Writer, wsTextFrame } from './writer.ts';

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
  readonly core: GatewayCore;
}

const DEVICE_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** The client's device id when well-formed (WebSocket and SSE alike), else a fresh one. */
export function deviceIdOf(param: string | null | undefined): string {
  return param && DEVICE_ID.test(param) ? param : randomUUID();
}

/** The catalog code of each status a handshake may be refused with before the upgrade. */
const REFUSAL_CODES: Record<number, ErrorCode> = {
  404: 'NOT_FOUND',
  429: 'RATE_LIMITED',
  500: 'INTERNAL',
  503: 'NOT_READY',
};

function refuse(socket: Duplex, status: number, text: string, headers: Record<string, string> = {}): void {
  const extra = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  const body = JSON.stringify({
    error: {
      code: REFUSAL_CODES[status] ?? 'NOT_FOUND',
      message: text,
    },
  });
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`,
  );
}

/** A drained session that has not left by its reconnect_after_ms is closed this much later. */
const DRAIN_CLOSE_SLACK_MS = 250;

/** Browsers may carry the token as a subprotocol: `herald.v1, herald.bearer.<token>`. */
export const SUBPROTOCOL = 'herald.v1';
const BEARER_PROTOCOL = 'herald.bearer.';

function subprotocolToken(header: string | undefined): string | null {
  if (!header) return null;
  for (const p of header.split(',')) {
    const v = p.trim();
    if (v.startsWith(BEARER_PROTOCOL) && v.length > BEARER_PROTOCOL.length)
      return v.slice(BEARER_PROTOCOL.length);
  }
  return null;
}

/** What `welcome.limits` tells clients, so they can pace sends and frames below the refusals. */
function welcomeLimits(opts: ResolvedOptions): WelcomeLimits {
  const send = opts.sendLimiter.rate ?? { perSec: 20, burst: 20 };
  return {
    send_per_sec: send.perSec,
    send_burst: send.burst,
    frames_per_sec: opts.frameRate.perSec,
    frames_burst: opts.frameRate.burst,
  };
}

export function createGateway(options: GatewayOptions): Gateway {
  const core = new GatewayCore(options);
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

  const fail = (reason: HandshakeFailure) => core.metrics.record({ name: 'handshake_failed', reason });

  function closeSocket(ws: WebSocket, code: number, reason: string): void {
    if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(code, reason);
    // A peer that never answers the close (or never reads) is destroyed after the grace.
    setTimeout(() => ws.terminate(), opts.closeGraceMs).unref();
  }

  // Frames bypass ws's per-send framing: each is written to the TCP socket pre-framed (one
  // buffer per topic frame for every socket; permessage-deflate is off above, so ws would
  // add nothing), batched per tick by the connection's Writer.
  function wsSink(ws: WebSocket): Sink {
    const socket = (ws as unknown as { _socket: Duplex })._socket;
    const writer = new Writer(
      socket,
      core.flusher,
      core.flushAtBytes,
      () => ws.readyState === WebSocket.OPEN,
    );
    return {
      transport: 'ws',
      write(text, frame) {
        writer.enqueue(frame ? frame.wsFrame : wsTextFrame(text));
      },
      urgent: (text) => writer.urgent(wsTextFrame(text)),
      bufferedAmount: () => writer.bufferedAmount,
      close(code, reason) {
        writer.end(false);
        closeSocket(ws, code, reason);
      },
      cut(code, reason) {
        const dropped = writer.end(true);
        closeSocket(ws, code, reason);
        return dropped;
      },
    };
  }

  function rejectAfterUpgrade(
    ws: WebSocket,
    reason: HandshakeFailure,
    code: ErrorCode,
    close: number,
    message: string,
  ) {
    fail(reason);
    if (ws.readyState === WebSocket.OPEN)
      ws.send(JSON.stringify({ type: 'error', code, message } satisfies ServerFrame));
    closeSocket(ws, close, message.slice(0, 120));
  }

  function onSocket(ws: WebSocket, req: IncomingMessage, url: URL, headerToken: string | null): void {
    sockets.set(ws, null);
    const frames = new TokenBucket(opts.frameRate, opts.now());
    let session: Session | null = null;
    /** This socket's slot under the per-user and per-tenant caps, held from auth to close. */
    let lease: Lease | null = null;
    let authenticating = false;
    const queued: string[] = [];
    const version = Number(url.searchParams.get('v') ?? PROTOCOL_VERSION);
    const device = deviceIdOf(url.searchParams.get('device_id'));
    const origin = req.headers.origin;
    const host = req.headers.host;

    const authTimer = setTimeout(() => {
      if (!session && !authenticating)
        rejectAfterUpgrade(
          ws,
          'auth_timeout',
          'UNAUTHENTICATED',
          CLOSE.UNAUTHENTICATED,
          'No auth frame in time.',
        );
    }, opts.authTimeoutMs);
    authTimer.unref();

    const authenticate = async (token: string) => {
      authenticating = true;
      const res = await core.authorize(token, origin, host);
      if (ws.readyState !== WebSocket.OPEN) return;
      if (!res.ok) return rejectAfterUpgrade(ws, res.reason, res.code, res.close, res.message);
      const { claims } = res;
      const admitted = await core.admit(claims.tenant_id, claims.user_id);
      if (!admitted.ok) {
        return rejectAfterUpgrade(
          ws,
          'too_many_connections',
          'TOO_MANY_CONNECTIONS',
          CLOSE.TOO_MANY_CONNECTIONS,
          `Too many open connections for this ${admitted.over}.`,
        );
      }
      // The socket may have closed while the slot was being taken: give it back then.
      if (ws.readyState !== WebSocket.OPEN) return admitted.lease.release();
      lease = admitted.lease;
      const s = new Session(core, wsSink(ws), {
        id: randomUUID(),
        tenant: claims.tenant_id,
        user: claims.user_id,
        device,
        expiresMs: claims.exp * 1000,
      });
      core.sessions.add(s);
      sockets.set(ws, s);
      session = s;
      clearTimeout(authTimer);
      core.metrics.record({ name: 'connection_opened', transport: 'ws' });
      await s.start();
      if (s.isClosing) return;
      s.welcome({
        type: 'welcome',
        connection_id: s.id,
        user_id: s.user,
        tenant_id: s.tenant,
        device_id: s.device,
        heartbeat_ms: opts.heartbeatMs,
        protocol: PROTOCOL_VERSION,
        expires_at: claims.exp,
        limits: welcomeLimits(opts),
      });
      authenticating = false;
      for (const text of queued.splice(0)) onFrame(text);
    };

    const startAuth = (token: string) =>
      authenticate(token).catch((err) => {
        // The store is down (token or origin lookup): say so, and close with a reconnect code.
        if (err instanceof HeraldError && err.code === 'STORE_UNAVAILABLE') {
          opts.log?.warn({ err }, 'gateway handshake: store unavailable');
          return rejectAfterUpgrade(ws, 'internal', err.code, CLOSE.INTERNAL, err.message);
        }
        opts.log?.error({ err }, 'gateway handshake failed');
        rejectAfterUpgrade(ws, 'internal', 'INTERNAL', CLOSE.INTERNAL, 'Internal error.');
      });

    // A re-`auth` on a live session extends it with a fresh token (same tenant and user).
    const reauth = async (s: Session, token: string) => {
      try {
        const claims = await opts.tokens.verify(token);
        if (claims.tenant_id !== s.tenant || claims.user_id !== s.user) {
          s.send({
            type: 'error',
            code: 'FORBIDDEN',
            message: 'A new token must name the same tenant and user.',
          });
          return;
        }
        s.armExpiry(claims.exp * 1000, true);
      } catch (err) {
        s.sendError(err);
      }
    };

    function onFrame(text: string): void {
      if (authenticating) {
        queued.push(text);
        return;
      }
      const parsed = parseClientFrame(text);
      if (!parsed.ok) {
        const frame: ServerFrame = {
          type: 'error',
          code: parsed.code,
          message: parsed.message,
          ...(parsed.ref ? { ref: parsed.ref } : {}),
        };
        if (session) session.send(frame);
        else if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
        if (parsed.fatal) {
          if (session) session.close(CLOSE.PROTOCOL_ERROR, 'malformed frame');
          else closeSocket(ws, CLOSE.PROTOCOL_ERROR, 'malformed frame');
        }
        return;
      }
      const f = parsed.frame;
      if (!session) {
        if (f.type !== 'auth') {
          rejectAfterUpgrade(
            ws,
            'no_token',
            'UNAUTHENTICATED',
            CLOSE.UNAUTHENTICATED,
            'The first frame must be auth.',
          );
          return;
        }
        void startAuth(f.token);
        return;
      }
      if (f.type === 'auth') {
        void reauth(session, f.token);
        return;
      }
      void session.handle(f);
    }

    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (session) session.lastSeen = Date.now();
      if (!frames.take(opts.now())) {
        if (session) session.close(CLOSE.RATE_LIMITED, 'too many frames');
        else closeSocket(ws, CLOSE.RATE_LIMITED, 'too many frames');
        return;
      }
      if (isBinary) {
        if (session) session.close(CLOSE.PROTOCOL_ERROR, 'binary frames are not supported');
        else closeSocket(ws, CLOSE.PROTOCOL_ERROR, 'binary frames are not supported');
        return;
      }
      onFrame(Array.isArray(data) ? Buffer.concat(data).toString('utf8') : data.toString());
    });
    ws.on('pong', () => {
      if (session) session.lastSeen = Date.now();
    });
    ws.on('error', (err) => {
      // Oversized frames (maxPayload) arrive here; ws closes the socket with 1009 itself.
      opts.log?.debug({ err: err.message }, 'websocket error');
    });
    ws.on('close', (code) => {
      clearTimeout(authTimer);
      sockets.delete(ws);
      lease?.release();
      if (session) {
        core.sessions.delete(session);
        core.metrics.record({ name: 'connection_closed', transport: 'ws', code });
        void session.dispose();
      }
    });

    if (version !== PROTOCOL_VERSION) {
      rejectAfterUpgrade(
        ws,
        'version',
        'BAD_REQUEST',
        CLOSE.UNSUPPORTED_VERSION,
        `Protocol version ${PROTOCOL_VERSION} only.`,
      );
      return;
    }
    if (core.draining) {
      closeSocket(ws, CLOSE.DRAIN, 'draining');
      return;
    }
    if (headerToken) void startAuth(headerToken);
  }

  function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
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
        if (socket.destroyed) return;
        // The token never reaches a log line: only the path is ever logged.
        const token =
          bearer(req.headers.authorization) ??
          subprotocolToken(req.headers['sec-websocket-protocol']) ??
          url.searchParams.get('access_token');
        wss.handleUpgrade(req, socket, head, (ws) => onSocket(ws, req, url, token));
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
      for (const ws of sockets.keys()) closeSocket(ws, CLOSE.DRAIN, 'draining');
      await waitEmpty(Math.min(opts.closeGraceMs, 2_000));
    },
    async close() {
      core.draining = true;
      clearInterval(pinger);
      for (const s of [...core.sessions]) s.close(CLOSE.DRAIN, 'shutting down');
      for (const ws of sockets.keys()) closeSocket(ws, CLOSE.DRAIN, 'shutting down');
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
