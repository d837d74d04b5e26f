// One WebSocket connection from upgrade to close: the auth frame (or a token from the
// upgrade request), the socket caps, the session on a pre-framed Writer, the frame rate
// limit, client frames to the session and the close.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type RawData, WebSocket } from 'ws';
import type { Lease } from '../limits/socket-caps.ts';
import { CLOSE, type ErrorCode, HeraldError, PROTOCOL_VERSION, type ServerFrame } from '../protocol/index.ts';
import { parseClientFrame } from './client-frames.ts';
import type { GatewayCore } from './core.ts';
import type { HandshakeFailure } from './metrics.ts';
import type { Sink } from './ports.ts';
import { TokenBucket } from './rate-limit.ts';
import { Session } from './session.ts';
import type { TopicFrame } from './topic-hub.ts';
import { deviceIdOf, welcomeLimits } from './upgrade.ts';
import { Writer, type WriterGate, wsTextFrame } from './writer.ts';

/** The node's WebSocket state: its core, and every open socket with its session once authenticated. */
export interface WsNode {
  readonly core: GatewayCore<Session>;
  readonly sockets: Map<WebSocket, Session | null>;
}

export function closeSocket(node: WsNode, ws: WebSocket, code: number, reason: string): void {
  if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(code, reason);
  // A peer that never answers the close (or never reads) is destroyed after the grace.
  setTimeout(() => ws.terminate(), node.core.opts.closeGraceMs).unref();
}

// Frames bypass ws's per-send framing: each is written to the TCP socket pre-framed (one
// buffer per topic frame for every socket; permessage-deflate is off above, so ws would
// add nothing), batched per tick by the connection's Writer. A class, not an object of
// closures: there is one per socket.
class WsSink implements Sink, WriterGate {
  readonly transport = 'ws';
  private readonly writer: Writer;

  constructor(
    private readonly node: WsNode,
    private readonly ws: WebSocket,
  ) {
    const socket = (ws as unknown as { _socket: Duplex })._socket;
    this.writer = new Writer(socket, node.core.flusher, node.core.flushAtBytes, this);
  }

  /** The Writer's gate: no data frames once the socket is no longer open. */
  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  write(text: string, frame: TopicFrame | null): void {
    this.writer.enqueue(frame ? frame.wsFrame : wsTextFrame(text));
  }

  urgent(text: string): void {
    this.writer.urgent(wsTextFrame(text));
  }

  bufferedAmount(): number {
    return this.writer.bufferedAmount;
  }

  close(code: number, reason: string): void {
    this.writer.end(false);
    closeSocket(this.node, this.ws, code, reason);
  }

  cut(code: number, reason: string): number {
    const dropped = this.writer.end(true);
    closeSocket(this.node, this.ws, code, reason);
    return dropped;
  }
}

function rejectAfterUpgrade(
  node: WsNode,
  ws: WebSocket,
  reason: HandshakeFailure,
  code: ErrorCode,
  close: number,
  message: string,
) {
  node.core.metrics.record({ name: 'handshake_failed', reason });
  if (ws.readyState === WebSocket.OPEN)
    ws.send(JSON.stringify({ type: 'error', code, message } satisfies ServerFrame));
  closeSocket(node, ws, close, message.slice(0, 120));
}

/** A socket's connection, for the listeners below (shared by every socket: `this` is the socket). */
const CONNECTION = Symbol('herald.wsConnection');
type ConnectedSocket = WebSocket & { [CONNECTION]?: WsConnection };

function onMessage(this: ConnectedSocket, data: RawData, isBinary: boolean): void {
  this[CONNECTION]?.message(data, isBinary);
}

function onPong(this: ConnectedSocket): void {
  const session = this[CONNECTION]?.session;
  if (session) session.lastSeen = Date.now();
}

function onError(this: ConnectedSocket, err: Error): void {
  // Oversized frames (maxPayload) arrive here; ws closes the socket with 1009 itself.
  this[CONNECTION]?.node.core.opts.log?.debug({ err: err.message }, 'websocket error');
}

function onClose(this: ConnectedSocket, code: number): void {
  this[CONNECTION]?.closed(code);
}

function onAuthTimeout(conn: WsConnection): void {
  conn.authTimedOut();
}

export function onSocket(
  node: WsNode,
  ws: WebSocket,
  req: IncomingMessage,
  url: URL,
  headerToken: string | null,
): void {
  const { core } = node;
  const conn = new WsConnection(node, ws, req, url);
  (ws as ConnectedSocket)[CONNECTION] = conn;
  ws.on('message', onMessage);
  ws.on('pong', onPong);
  ws.on('error', onError);
  ws.on('close', onClose);

  const version = Number(url.searchParams.get('v') ?? PROTOCOL_VERSION);
  if (version !== PROTOCOL_VERSION) {
    rejectAfterUpgrade(
      node,
      ws,
      'version',
      'BAD_REQUEST',
      CLOSE.UNSUPPORTED_VERSION,
      `Protocol version ${PROTOCOL_VERSION} only.`,
    );
    return;
  }
  if (core.draining) {
    closeSocket(node, ws, CLOSE.DRAIN, 'draining');
    return;
  }
  if (headerToken) void conn.startAuth(headerToken);
}

/**
 * One socket from upgrade to close. Its state and prototype methods, no closures: an idle
 * socket's memory is mostly what is allocated per connection (and under tsx every named
 * closure also gets its own property store).
 */
class WsConnection {
  private readonly frames: TokenBucket;
  session: Session | null = null;
  /** This socket's slot under the per-user and per-tenant caps, held from auth to close. */
  private lease: Lease | null = null;
  private authenticating = false;
  /** Frames that arrived while authenticating (allocated only then). */
  private queued: string[] | null = null;
  private readonly device: string;
  private readonly origin: string | undefined;
  private readonly host: string | undefined;
  private authTimer: NodeJS.Timeout | null;

  constructor(
    readonly node: WsNode,
    private readonly ws: WebSocket,
    req: IncomingMessage,
    url: URL,
  ) {
    const { opts } = node.core;
    node.sockets.set(ws, null);
    this.frames = new TokenBucket(opts.frameRate, opts.now());
    this.device = deviceIdOf(url.searchParams.get('device_id'));
    this.origin = req.headers.origin;
    this.host = req.headers.host;
    this.authTimer = setTimeout(onAuthTimeout, opts.authTimeoutMs, this);
    this.authTimer.unref();
  }

  authTimedOut(): void {
    if (!this.session && !this.authenticating)
      rejectAfterUpgrade(
        this.node,
        this.ws,
        'auth_timeout',
        'UNAUTHENTICATED',
        CLOSE.UNAUTHENTICATED,
        'No auth frame in time.',
      );
  }

  private clearAuthTimer(): void {
    if (this.authTimer) clearTimeout(this.authTimer);
    this.authTimer = null;
  }

  startAuth(token: string): Promise<void> {
    return this.authenticate(token).catch((err) => {
      const { node, ws } = this;
      const { opts } = node.core;
      // The store is down (token or origin lookup): say so, and close with a reconnect code.
      if (err instanceof HeraldError && err.code === 'STORE_UNAVAILABLE') {
        opts.log?.warn({ err }, 'gateway handshake: store unavailable');
        return rejectAfterUpgrade(node, ws, 'internal', err.code, CLOSE.INTERNAL, err.message);
      }
      opts.log?.error({ err }, 'gateway handshake failed');
      rejectAfterUpgrade(node, ws, 'internal', 'INTERNAL', CLOSE.INTERNAL, 'Internal error.');
    });
  }

  private async authenticate(token: string): Promise<void> {
    const { node, ws } = this;
    const { core } = node;
    const { opts } = core;
    this.authenticating = true;
    const res = await core.authorize(token, this.origin, this.host);
    if (ws.readyState !== WebSocket.OPEN) return;
    if (!res.ok) return rejectAfterUpgrade(node, ws, res.reason, res.code, res.close, res.message);
    const { claims } = res;
    const admitted = await core.admit(claims.tenant_id, claims.user_id);
    if (!admitted.ok) {
      return rejectAfterUpgrade(
        node,
        ws,
        'too_many_connections',
        'TOO_MANY_CONNECTIONS',
        CLOSE.TOO_MANY_CONNECTIONS,
        `Too many open connections for this ${admitted.over}.`,
      );
    }
    // The socket may have closed while the slot was being taken: give it back then.
    if (ws.readyState !== WebSocket.OPEN) return admitted.lease.release();
    this.lease = admitted.lease;
    const s = new Session(core, new WsSink(node, ws), {
      id: randomUUID(),
      tenant: claims.tenant_id,
      user: claims.user_id,
      device: this.device,
      expiresMs: claims.exp * 1000,
    });
    core.sessions.add(s);
    node.sockets.set(ws, s);
    this.session = s;
    this.clearAuthTimer();
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
    this.authenticating = false;
    const queued = this.queued;
    this.queued = null;
    if (queued) for (const text of queued) this.frame(text);
  }

  // A re-`auth` on a live session extends it with a fresh token (same tenant and user).
  private async reauth(s: Session, token: string): Promise<void> {
    try {
      const claims = await this.node.core.opts.tokens.verify(token);
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
  }

  message(data: RawData, isBinary: boolean): void {
    const { session, node, ws } = this;
    if (session) session.lastSeen = Date.now();
    if (!this.frames.take(node.core.opts.now())) {
      if (session) session.close(CLOSE.RATE_LIMITED, 'too many frames');
      else closeSocket(node, ws, CLOSE.RATE_LIMITED, 'too many frames');
      return;
    }
    if (isBinary) {
      if (session) session.close(CLOSE.PROTOCOL_ERROR, 'binary frames are not supported');
      else closeSocket(node, ws, CLOSE.PROTOCOL_ERROR, 'binary frames are not supported');
      return;
    }
    this.frame(Array.isArray(data) ? Buffer.concat(data).toString('utf8') : data.toString());
  }

  private frame(text: string): void {
    const { session, node, ws } = this;
    if (this.authenticating) {
      this.queued ??= [];
      this.queued.push(text);
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
        else closeSocket(node, ws, CLOSE.PROTOCOL_ERROR, 'malformed frame');
      }
      return;
    }
    const f = parsed.frame;
    if (!session) {
      if (f.type !== 'auth') {
        rejectAfterUpgrade(
          node,
          ws,
          'no_token',
          'UNAUTHENTICATED',
          CLOSE.UNAUTHENTICATED,
          'The first frame must be auth.',
        );
        return;
      }
      void this.startAuth(f.token);
      return;
    }
    if (f.type === 'auth') {
      void this.reauth(session, f.token);
      return;
    }
    void session.handle(f);
  }

  closed(code: number): void {
    const { core, sockets } = this.node;
    this.clearAuthTimer();
    sockets.delete(this.ws);
    this.lease?.release();
    const { session } = this;
    if (session) {
      core.sessions.delete(session);
      core.metrics.record({ name: 'connection_closed', transport: 'ws', code });
      void session.dispose();
    }
  }
}
