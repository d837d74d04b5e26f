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
import { deviceIdOf, welcomeLimits } from './upgrade.ts';
import { Writer, wsTextFrame } from './writer.ts';

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
// add nothing), batched per tick by the connection's Writer.
function wsSink(node: WsNode, ws: WebSocket): Sink {
  const { core } = node;
  const socket = (ws as unknown as { _socket: Duplex })._socket;
  const writer = new Writer(socket, core.flusher, core.flushAtBytes, () => ws.readyState === WebSocket.OPEN);
  return {
    transport: 'ws',
    write(text, frame) {
      writer.enqueue(frame ? frame.wsFrame : wsTextFrame(text));
    },
    urgent: (text) => writer.urgent(wsTextFrame(text)),
    bufferedAmount: () => writer.bufferedAmount,
    close(code, reason) {
      writer.end(false);
      closeSocket(node, ws, code, reason);
    },
    cut(code, reason) {
      const dropped = writer.end(true);
      closeSocket(node, ws, code, reason);
      return dropped;
    },
  };
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

export function onSocket(
  node: WsNode,
  ws: WebSocket,
  req: IncomingMessage,
  url: URL,
  headerToken: string | null,
): void {
  const { core, sockets } = node;
  const { opts } = core;
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
        node,
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
    lease = admitted.lease;
    const s = new Session(core, wsSink(node, ws), {
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
        return rejectAfterUpgrade(node, ws, 'internal', err.code, CLOSE.INTERNAL, err.message);
      }
      opts.log?.error({ err }, 'gateway handshake failed');
      rejectAfterUpgrade(node, ws, 'internal', 'INTERNAL', CLOSE.INTERNAL, 'Internal error.');
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
      else closeSocket(node, ws, CLOSE.RATE_LIMITED, 'too many frames');
      return;
    }
    if (isBinary) {
      if (session) session.close(CLOSE.PROTOCOL_ERROR, 'binary frames are not supported');
      else closeSocket(node, ws, CLOSE.PROTOCOL_ERROR, 'binary frames are not supported');
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
  if (headerToken) void startAuth(headerToken);
}
