// GET /v1/sse: the gateway's downlink as Server-Sent Events, for clients that
// only read (writes go over HTTP). Streams the personal room and the chosen
// conversations with the same replay-then-live subscription as WebSocket.
//
// Every `event` frame carries an SSE id encoding the stream position of every
// conversation seen so far ("conv:seq,conv:seq", ids URI-encoded), so a
// reconnecting EventSource resumes all of them from Last-Event-ID.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { bearer } from '../auth/secrets.ts';
import { findInputProblem, HeraldError, MAX_SEQ, PROTOCOL_VERSION, parseSeq } from '../protocol/index.ts';
import type { Gateway } from './gateway.ts';
import type { Sink } from './ports.ts';
import { Session } from './session.ts';
import { typingRoute } from './typing-route.ts';
import { deviceIdOf } from './upgrade.ts';
import { sseData, Writer } from './writer.ts';

export interface SseOptions {
  /** The gateway, or a getter (the host may build the gateway after registering the route). */
  gateway: Gateway | (() => Gateway);
  /** Route path (default /v1/sse). */
  path?: string;
  /** Conversations per stream (default 50). */
  maxConversations?: number;
  /** Keep-alive comment interval (default 15 s). */
  keepAliveMs?: number;
}

/** "a:5,b:7" → Map; ids are URI-encoded so they may contain any character. */
export function decodeCursor(raw: string | undefined | null): Map<string, number> {
  const out = new Map<string, number>();
  if (!raw) return out;
  for (const part of raw.split(',')) {
    const i = part.lastIndexOf(':');
    if (i <= 0) continue;
    const seq = parseSeq(part.slice(i + 1));
    if (seq === null) continue;
    try {
      out.set(decodeURIComponent(part.slice(0, i)), seq);
    } catch {
      // Ignore a mangled entry; that conversation falls back to since_seq.
    }
  }
  return out;
}

/**
 * The strict reading of a cursor a client sends (since_seq, Last-Event-ID): every entry must
 * be `conv:seq` with a URI-encoded id and a seq in [0, MAX_SEQ]. A string says what is wrong.
 */
export function parseCursor(raw: string, what: string): Map<string, number> | string {
  const out = new Map<string, number>();
  for (const part of raw.split(',')) {
    const i = part.lastIndexOf(':');
    const seq = i > 0 ? parseSeq(part.slice(i + 1)) : null;
    if (seq === null) return `${what} must list conversation:seq with seqs integers from 0 to ${MAX_SEQ}.`;
    let id: string;
    try {
      id = decodeURIComponent(part.slice(0, i));
    } catch {
      return `${what} has a malformed conversation id.`;
    }
    const problem = findInputProblem(id);
    if (problem) return `${what} conversation ids ${problem.message}.`;
    out.set(id, seq);
  }
  return out;
}

export function encodeCursor(cursor: ReadonlyMap<string, number>): string {
  return [...cursor].map(([c, s]) => `${encodeURIComponent(c)}:${s}`).join(',');
}

/**
 * A stream's position in every conversation, kept ready to send: each id is URI-encoded
 * once, and the text is rebuilt only when a seq changed — not on every frame. Same text
 * as encodeCursor() of the same map.
 */
export class StreamCursor {
  private readonly parts = new Map<string, { key: string; seq: number }>();
  private text: string | null = '';

  constructor(initial: ReadonlyMap<string, number> = new Map()) {
    for (const [c, seq] of initial) this.set(c, seq);
  }

  set(conversation: string, seq: number): void {
    const p = this.parts.get(conversation);
    if (p?.seq === seq) return;
    if (p) p.seq = seq;
    else this.parts.set(conversation, { key: encodeURIComponent(conversation), seq });
    this.text = null;
  }

  encoded(): string {
    if (this.text === null) {
      let out = '';
      for (const p of this.parts.values()) out += `${out ? ',' : ''}${p.key}:${p.seq}`;
      this.text = out;
    }
    return this.text;
  }
}

function httpError(reply: FastifyReply, err: HeraldError, headers: Record<string, string> = {}) {
  return reply.code(err.status).headers(headers).send(err.toBody());
}

// No $ref here: the plugin may be registered in an app without Herald's shared schemas. The
// error statuses are added, with the shared Error schema, by the API's OpenAPI transform.
const SSE_OPENAPI = {
  tags: ['realtime'],
  operationId: 'openEventStream',
  summary: 'The downlink as Server-Sent Events (parameters: docs/protocol.md#server-sent-events)',
  // The token may also come as ?access_token= (EventSource cannot set headers).
  security: [{ accessToken: [] }],
  'x-herald-errors': [403, 404, 429],
  response: {
    200: {
      description: 'text/event-stream; each data: line is a WebSocket frame as JSON',
      content: { 'text/event-stream': { schema: { type: 'string' } } },
    },
  },
};

/** Fastify plugin: `app.register(sseRoutes, { gateway })`. */
export async function sseRoutes(app: FastifyInstance, options: SseOptions): Promise<void> {
  const gw = options.gateway;
  const coreOf = () => (typeof gw === 'function' ? gw() : gw).core;
  const path = options.path ?? '/v1/sse';
  const maxConversations = options.maxConversations ?? 50;
  const keepAliveMs = options.keepAliveMs ?? 15_000;
  // Typing without a socket: the SSE client's uplink for the one ephemeral frame it may send.
  await typingRoute(app, coreOf);

  // Described in /openapi.json (no querystring schema: the route checks its own parameters).
  app.get(path, { schema: SSE_OPENAPI }, async (req, reply) => {
    const core = coreOf();
    const q = req.query as Record<string, string | undefined>;
    // The shared input rule, and seqs within MAX_SEQ: refused before anything is read.
    const repeated = Object.keys(q).find((k) => typeof q[k] !== 'string');
    const problem =
      findInputProblem(q, 'querystring') ??
      (repeated ? { path: `querystring/${repeated}`, message: 'must be given once' } : null);
    if (problem) {
      return httpError(
        reply,
        new HeraldError('VALIDATION_FAILED', `${problem.path} ${problem.message}`, { details: [problem] }),
      );
    }
    if (core.draining)
      return httpError(reply, new HeraldError('NOT_READY', 'The node is draining.'), { 'Retry-After': '1' });
    const perIp = await core.ipLimiter.take(core.opts.clientIp(req.raw));
    if (!perIp.ok) {
      core.metrics.record({ name: 'handshake_failed', reason: 'rate_limited_ip' });
      return httpError(reply, new HeraldError('RATE_LIMITED'), {
        'Retry-After': String(perIp.retryAfterSec),
      });
    }
    const token = bearer(req.headers.authorization) ?? q.access_token ?? null;
    if (!token) {
      core.metrics.record({ name: 'handshake_failed', reason: 'no_token' });
      return httpError(reply, new HeraldError('UNAUTHENTICATED'));
    }
    const origin = req.headers.origin;
    const auth = await core.authorize(token, origin, req.headers.host);
    if (!auth.ok) {
      core.metrics.record({ name: 'handshake_failed', reason: auth.reason });
      return httpError(reply, new HeraldError(auth.code, auth.message));
    }
    const conversations = [
      ...new Set(
        (q.conversations ?? '')
          .split(',')
          .map((c) => c.trim())
          .filter(Boolean),
      ),
    ];
    if (conversations.length > maxConversations) {
      return httpError(
        reply,
        new HeraldError('VALIDATION_FAILED', `At most ${maxConversations} conversations per stream.`),
      );
    }
    // since_seq: "conv:seq,…" per conversation, or one number for all; Last-Event-ID wins where it is ahead.
    const since = new Map<string, number>();
    const sinceRaw = q.since_seq;
    const sinceAll = sinceRaw ? parseSeq(sinceRaw) : null;
    if (sinceAll !== null) for (const c of conversations) since.set(c, sinceAll);
    else if (sinceRaw) {
      const parsed = parseCursor(sinceRaw, 'since_seq');
      if (typeof parsed === 'string') return httpError(reply, new HeraldError('VALIDATION_FAILED', parsed));
      for (const [c, s] of parsed) since.set(c, s);
    }
    const lastEventId = (req.headers['last-event-id'] as string | undefined) ?? q.last_event_id;
    const resumed = lastEventId ? parseCursor(lastEventId, 'Last-Event-ID') : new Map<string, number>();
    if (typeof resumed === 'string') return httpError(reply, new HeraldError('VALIDATION_FAILED', resumed));
    for (const [c, s] of resumed) if (conversations.includes(c)) since.set(c, Math.max(s, since.get(c) ?? 0));

    const { claims } = auth;
    // A stream holds a socket slot like a WebSocket does, from here until it closes.
    const admitted = await core.admit(claims.tenant_id, claims.user_id);
    if (!admitted.ok) {
      core.metrics.record({ name: 'handshake_failed', reason: 'too_many_connections' });
      return httpError(
        reply,
        new HeraldError('TOO_MANY_CONNECTIONS', `Too many open connections for this ${admitted.over}.`),
        { 'Retry-After': '1' },
      );
    }
    if (req.raw.destroyed) {
      admitted.lease.release();
      return;
    }
    reply.hijack();
    const raw = reply.raw;
    const headers: Record<string, string> = {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    };
    if (origin) {
      headers['Access-Control-Allow-Origin'] = origin;
      headers.Vary = 'Origin';
    }
    raw.writeHead(200, headers);
    raw.write('retry: 2000\n\n');

    const cursor = new StreamCursor(resumed);
    // Frames are queued and batched per tick like WebSocket ones (writer.ts); a shared frame's
    // `data:` message is rendered once for every stream, only the `id:` line is per stream.
    const writer = new Writer(raw, core.flusher, core.flushAtBytes, {
      get open() {
        return !raw.writableEnded;
      },
    });
    const end = (code: number, reason: string) => {
      if (raw.writableEnded) return;
      raw.end(`event: close\ndata: ${JSON.stringify({ code, reason })}\n\n`);
      setTimeout(() => raw.destroy(), core.opts.closeGraceMs).unref();
    };
    const sink: Sink = {
      transport: 'sse',
      write(text, frame, at) {
        if (at) {
          cursor.set(at.conversation, at.seq);
          writer.enqueue(Buffer.from(`id: ${cursor.encoded()}\n`, 'utf8'));
        }
        writer.enqueue(frame ? frame.sseData : sseData(text));
      },
      urgent: (text) => writer.urgent(sseData(text)),
      bufferedAmount: () => writer.bufferedAmount,
      close(code, reason) {
        writer.end(false);
        end(code, reason);
      },
      // `event: close` goes ahead of the dropped backlog, behind the bytes in flight only.
      cut(code, reason) {
        const dropped = writer.end(true);
        end(code, reason);
        return dropped;
      },
    };
    const session = new Session(core, sink, {
      id: randomUUID(),
      tenant: claims.tenant_id,
      user: claims.user_id,
      device: deviceIdOf(q.device_id),
      expiresMs: claims.exp * 1000,
    });
    core.sessions.add(session);
    core.metrics.record({ name: 'connection_opened', transport: 'sse' });
    const keepAlive = setInterval(() => {
      if (!raw.writableEnded) raw.write(': keep-alive\n\n');
    }, keepAliveMs);
    keepAlive.unref();
    raw.on('close', () => {
      admitted.lease.release();
      clearInterval(keepAlive);
      if (!core.sessions.delete(session)) return;
      core.metrics.record({ name: 'connection_closed', transport: 'sse', code: 1000 });
      void session.dispose();
    });
    try {
      await session.start();
      if (session.isClosing) return;
      session.welcome({
        type: 'welcome',
        connection_id: session.id,
        user_id: session.user,
        tenant_id: session.tenant,
        device_id: session.device,
        heartbeat_ms: core.opts.heartbeatMs,
        protocol: PROTOCOL_VERSION,
        expires_at: claims.exp,
      });
      for (const c of conversations) {
        try {
          await session.subscribe(c, since.get(c));
        } catch (err) {
          session.sendError(err, c);
        }
      }
    } catch (err) {
      req.log.error({ err }, 'sse stream failed');
      session.close(4003, 'internal');
    }
  });
}
