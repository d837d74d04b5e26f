// A scriptable in-process Herald for the SDK's failure paths: a real `ws`
// WebSocketServer and a tiny node:http handler on port 0. By default it
// behaves like a well-mannered node (welcome, replay on subscribe, idempotent
// send with ack, catch-up endpoints); each test turns behaviours off or
// injects faults (closes, duplicates, gaps, HTTP errors, held responses).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';
import { parseClientFrame } from '../../src/gateway/client-frames.ts';
import { leanEvent } from '../../src/gateway/lean-event.ts';
import type { ErrorCode } from '../../src/protocol/errors.ts';
import type { ClientFrame, ServerFrame, WelcomeLimits, WireEvent } from '../../src/protocol/frames.ts';
import type { ConversationEvent, InboxEntry, Message, Notice } from '../../src/protocol/model.ts';

export interface FakeServerOptions {
  userId?: string;
  tenantId?: string;
  heartbeatMs?: number;
  /** welcome.expires_at (ms since epoch); default one hour from now. */
  expiresAt?: () => number;
  /** Send `welcome` on connect. Default true. */
  autoWelcome?: boolean;
  /** Answer `subscribe` with a replay and `subscribed`. Default true. */
  autoSubscribe?: boolean;
  /** Send `subscribed` before the replayed events, as the real gateway does (default true). */
  subscribedFirst?: boolean;
  /** At most this many events replayed on subscribe. Default 500. */
  replayLimit?: number;
  /** Commit `send` frames, publish the event and ack. Default true. */
  autoSend?: boolean;
  /** Ack before publishing the event (default) or after. */
  ackFirst?: boolean;
  /** `welcome.limits`; null sends none (an older server). Default: the fake's own limits below. */
  limits?: WelcomeLimits | null;
  /** Like the gateway: a socket writing more frames than this bucket allows is closed 4402. */
  frameRate?: { perSec: number; burst: number };
  /** Like the send limiter: more sends than `max` in a fixed window of `windowMs` get RATE_LIMITED. */
  sendRate?: { max: number; windowMs: number };
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  body: unknown;
  token: string | undefined;
}

export interface FakeResponse {
  status: number;
  body?: unknown;
}

type Stored = { seq: number; event: ConversationEvent };

export class FakeConnection {
  readonly frames: ClientFrame[] = [];
  readonly subscriptions = new Set<string>();
  closed = false;
  closeCode: number | null = null;
  /** The token of a first-frame `auth`, when the handshake carried none. */
  firstFrameToken: string | null = null;
  private waiters: (() => void)[] = [];

  constructor(
    readonly id: string,
    readonly socket: WebSocket,
    readonly query: URLSearchParams,
    /** Sec-WebSocket-Protocol values the client offered, in order. */
    readonly protocols: string[] = [],
  ) {
    socket.on('close', (code) => {
      this.closed = true;
      this.closeCode = code;
      this.notify();
    });
  }

  /** The token from the handshake (subprotocol, else ?access_token=) or the first `auth` frame. */
  get token(): string | null {
    return this.handshakeToken ?? this.firstFrameToken;
  }

  get handshakeToken(): string | null {
    const p = this.protocols.find((x) => x.startsWith(BEARER_PROTOCOL));
    return p ? p.slice(BEARER_PROTOCOL.length) : this.query.get('access_token');
  }

  send(frame: ServerFrame | Record<string, unknown>): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.send(JSON.stringify(frame));
  }

  sendRaw(text: string): void {
    this.socket.send(text);
  }

  close(code: number, reason = ''): void {
    this.socket.close(code, reason);
  }

  terminate(): void {
    this.socket.terminate();
  }

  /** Frames of one type received so far. */
  framesOf<T extends ClientFrame['type']>(type: T): Extract<ClientFrame, { type: T }>[] {
    return this.frames.filter((f): f is Extract<ClientFrame, { type: T }> => f.type === type);
  }

  /** Resolves with the first received frame (past or future) matching. */
  waitForFrame<T extends ClientFrame['type']>(
    type: T,
    pred: (f: Extract<ClientFrame, { type: T }>) => boolean = () => true,
    timeoutMs = 10_000,
  ): Promise<Extract<ClientFrame, { type: T }>> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const hit = this.framesOf(type).find(pred);
        if (hit) {
          clearTimeout(timer);
          this.waiters = this.waiters.filter((w) => w !== check);
          resolve(hit);
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(new Error(`timed out waiting for a '${type}' frame on ${this.id}`));
      }, timeoutMs);
      if (!check()) this.waiters.push(check);
    });
  }

  /** @internal */
  received(frame: ClientFrame): void {
    this.frames.push(frame);
    this.notify();
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }
}

const SUBPROTOCOL = 'herald.v1';
const BEARER_PROTOCOL = 'herald.bearer.';

export class FakeServer {
  readonly connections: FakeConnection[] = [];
  readonly requests: RecordedRequest[] = [];
  /** Tokens the server treats as expired: WS closes 4100, HTTP answers 401 TOKEN_EXPIRED. */
  readonly expiredTokens = new Set<string>();
  /** Inbox entries, by conversation. */
  readonly inbox = new Map<string, InboxEntry>();
  /** The user's notices, by id. */
  readonly notices = new Map<string, Notice>();
  /** Sends refused with RATE_LIMITED (sendRate). */
  rateLimited = 0;
  /** Intercepts HTTP requests: return a response to short-circuit, undefined to continue. */
  onHttp: ((req: RecordedRequest) => FakeResponse | undefined | Promise<FakeResponse | undefined>) | null =
    null;
  /** Intercepts client frames: return true when handled (skips the default behaviour). */
  onFrame: ((conn: FakeConnection, frame: ClientFrame) => boolean | undefined) | null = null;
  /** Runs on every new socket before the welcome: return true to skip the default welcome. */
  onConnect: ((conn: FakeConnection) => boolean | undefined) | null = null;

  private readonly logs = new Map<string, Stored[]>();
  private readonly sent = new Map<string, { conversation: string; seq: number; message_id: string }>();
  private inboxVersion = 0;
  private connWaiters: (() => void)[] = [];
  private sendWindow = { start: 0, count: 0 };
  private nextConn = 0;
  private msgCounter = 0;

  private constructor(
    private readonly httpServer: http.Server,
    private readonly wss: WebSocketServer,
    readonly opts: FakeServerOptions,
  ) {}

  static async start(opts: FakeServerOptions = {}): Promise<FakeServer> {
    // Like the gateway: echo `herald.v1` when offered, never the token-bearing subprotocol.
    const wss = new WebSocketServer({
      noServer: true,
      handleProtocols: (offered) => (offered.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
    });
    const httpServer = http.createServer();
    const server = new FakeServer(httpServer, wss, opts);
    httpServer.on('request', (req, res) => void server.handleHttp(req, res));
    httpServer.on('upgrade', (req, socket, head) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname !== '/v1/ws') {
        socket.destroy();
        return;
      }
      const protocols = (req.headers['sec-websocket-protocol'] ?? '')
        .split(',')
        .map((p) => p.trim())
        .filter(Boolean);
      wss.handleUpgrade(req, socket, head, (ws) => server.handleSocket(ws, url.searchParams, protocols));
    });
    await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
    return server;
  }

  get url(): string {
    const { port } = this.httpServer.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  get userId(): string {
    return this.opts.userId ?? 'u-me';
  }

  /** The most recent connection. */
  get last(): FakeConnection {
    const c = this.connections.at(-1);
    if (!c) throw new Error('no connection yet');
    return c;
  }

  /** Resolves with the next connection not yet returned by this method. */
  nextConnection(timeoutMs = 10_000): Promise<FakeConnection> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const c = this.connections[this.nextConn];
        if (!c) return false;
        this.nextConn++;
        clearTimeout(timer);
        this.connWaiters = this.connWaiters.filter((w) => w !== check);
        resolve(c);
        return true;
      };
      const timer = setTimeout(() => {
        this.connWaiters = this.connWaiters.filter((w) => w !== check);
        reject(new Error(`timed out waiting for connection #${this.nextConn + 1}`));
      }, timeoutMs);
      if (!check()) this.connWaiters.push(check);
    });
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.terminate();
    this.wss.close();
    this.httpServer.closeAllConnections();
    await new Promise<void>((resolve) => this.httpServer.close(() => resolve()));
  }

  // ---- the conversation log ---------------------------------------------------------

  log(conversation: string): Stored[] {
    let l = this.logs.get(conversation);
    if (!l) {
      l = [];
      this.logs.set(conversation, l);
    }
    return l;
  }

  head(conversation: string): number {
    return this.log(conversation).at(-1)?.seq ?? 0;
  }

  makeMessage(conversation: string, seq: number, body: string, extra: Partial<Message> = {}): Message {
    return {
      id: `m-${conversation}-${seq}-${++this.msgCounter}`,
      tenant_id: this.opts.tenantId ?? 't1',
      conversation_id: conversation,
      seq,
      kind: 'group',
      sender: { type: 'user', user_id: 'u-other' },
      body,
      reply_to: null,
      mentions: [],
      attachments: [],
      client_id: null,
      data: null,
      created_at: new Date(1_700_000_000_000 + seq * 1000).toISOString(),
      edited_at: null,
      deleted_at: null,
      ...extra,
    };
  }

  /** Commits a message to the log; publishes it live to subscribers unless `publish: false`. */
  append(
    conversation: string,
    body: string,
    opts: { publish?: boolean; extra?: Partial<Message> } = {},
  ): Stored {
    const seq = this.head(conversation) + 1;
    const stored: Stored = {
      seq,
      event: { type: 'message.created', message: this.makeMessage(conversation, seq, body, opts.extra) },
    };
    this.log(conversation).push(stored);
    if (opts.publish ?? true) this.publish(conversation, stored);
    return stored;
  }

  /** Sends an event frame to every connection subscribed to the conversation. */
  publish(conversation: string, stored: Stored): void {
    for (const c of this.connections) {
      if (!c.closed && c.subscriptions.has(conversation)) c.send(eventFrame(conversation, stored));
    }
  }

  /** How many messages in the log carry this client_id (duplicates would make it > 1). */
  countClientId(conversation: string, clientId: string): number {
    return this.log(conversation).filter(
      (s) => s.event.type === 'message.created' && s.event.message.client_id === clientId,
    ).length;
  }

  // ---- inbox ------------------------------------------------------------------------

  /**
   * Changes an entry (a new version). `removed: true` makes it a tombstone, as the server sends on
   * leave/removal; any later change without it is a plain entry again.
   */
  setInbox(conversation: string, patch: Partial<InboxEntry> = {}): InboxEntry {
    const { removed: _wasRemoved, ...prev } = this.inbox.get(conversation) ?? {};
    const { removed, ...rest } = patch;
    const entry: InboxEntry = {
      conversation_id: conversation,
      kind: 'group',
      title: conversation,
      last_seq: 0,
      last_read_seq: 0,
      unread_count: 0,
      mention_count: 0,
      archived: false,
      muted: false,
      pinned: false,
      last_activity_at: new Date(1_700_000_000_000).toISOString(),
      last_message: null,
      ...prev,
      ...rest,
      ...(removed === true ? { removed: true } : {}),
      version: ++this.inboxVersion,
    };
    this.inbox.set(conversation, entry);
    return entry;
  }

  // ---- notices ----------------------------------------------------------------------

  /** Adds or updates a notice (a new version, like the server's shared version sequence). */
  setNotice(id: string, patch: Partial<Notice> = {}): Notice {
    const prev = this.notices.get(id);
    const notice: Notice = {
      id,
      title: id,
      body: `notice ${id}`,
      data: null,
      created_at: new Date(1_700_000_000_000 + this.notices.size * 1000).toISOString(),
      read: false,
      archived: false,
      dismissed: false,
      escalated: false,
      ...prev,
      ...patch,
      version: ++this.inboxVersion,
    };
    this.notices.set(id, notice);
    return notice;
  }

  // ---- sockets ----------------------------------------------------------------------

  private handleSocket(ws: WebSocket, query: URLSearchParams, protocols: string[]): void {
    const conn = new FakeConnection(`c${this.connections.length + 1}`, ws, query, protocols);
    this.connections.push(conn);
    let authed = conn.handshakeToken !== null;
    const rate = this.opts.frameRate;
    let tokens = rate?.burst ?? 0;
    let at = Date.now();
    ws.on('message', (data) => {
      if (rate) {
        const now = Date.now();
        tokens = Math.min(rate.burst, tokens + ((now - at) / 1000) * rate.perSec);
        at = now;
        if (tokens < 1) {
          conn.close(4402, 'too many frames');
          return;
        }
        tokens -= 1;
      }
      // The gateway's own parser (one schema per frame): an SDK frame the real server would
      // refuse fails here too, as an error frame, and the test sees it.
      const parsed = parseClientFrame(String(data));
      if (!parsed.ok) {
        if (parsed.fatal) ws.close(4401, 'malformed');
        else
          ws.send(
            JSON.stringify({ type: 'error', code: parsed.code, message: parsed.message, ref: parsed.ref }),
          );
        return;
      }
      const frame: ClientFrame = parsed.frame;
      conn.received(frame);
      if (!authed) {
        // Like the gateway: without a token in the handshake the first frame must be `auth`.
        if (frame.type !== 'auth') {
          conn.close(4101, 'The first frame must be auth.');
          return;
        }
        authed = true;
        conn.firstFrameToken = frame.token;
        this.admit(conn);
        return;
      }
      if (this.onFrame?.(conn, frame)) return;
      this.defaultFrame(conn, frame);
    });
    for (const w of [...this.connWaiters]) w();
    if (authed) this.admit(conn);
  }

  private admit(conn: FakeConnection): void {
    if (conn.token && this.expiredTokens.has(conn.token)) {
      conn.close(4100, 'token expired');
      return;
    }
    if (this.onConnect?.(conn)) return;
    if (this.opts.autoWelcome ?? true) this.welcome(conn);
  }

  welcome(conn: FakeConnection): void {
    conn.send({
      type: 'welcome',
      connection_id: conn.id,
      user_id: this.userId,
      tenant_id: this.opts.tenantId ?? 't1',
      device_id: conn.query.get('device_id') ?? 'dev-assigned',
      heartbeat_ms: this.opts.heartbeatMs ?? 30_000,
      protocol: 1,
      expires_at: this.opts.expiresAt?.() ?? Date.now() + 3_600_000,
      ...(this.opts.limits === null ? {} : { limits: this.opts.limits ?? this.advertisedLimits() }),
    });
  }

  /** What the fake enforces (frameRate, sendRate), or the gateway's defaults. */
  advertisedLimits(): WelcomeLimits {
    const f = this.opts.frameRate ?? { perSec: 30, burst: 60 };
    const s = this.opts.sendRate ?? { max: 20, windowMs: 1000 };
    return {
      send_per_sec: (s.max * 1000) / s.windowMs,
      send_burst: s.max,
      frames_per_sec: f.perSec,
      frames_burst: f.burst,
    };
  }

  /** The send limiter: false (and RATE_LIMITED to the client) when the window is full. */
  private sendAllowed(conn: FakeConnection, clientId: string): boolean {
    const r = this.opts.sendRate;
    if (!r) return true;
    const now = Date.now();
    if (now - this.sendWindow.start >= r.windowMs) this.sendWindow = { start: now, count: 0 };
    if (this.sendWindow.count >= r.max) {
      this.rateLimited++;
      conn.send({ type: 'error', code: 'RATE_LIMITED', message: 'Too many requests', ref: clientId });
      return false;
    }
    this.sendWindow.count++;
    return true;
  }

  /** What a well-behaved gateway does with a subscribe: replay (since, head], then go live. */
  replay(conn: FakeConnection, conversation: string, sinceSeq: number | undefined): void {
    conn.subscriptions.add(conversation);
    const head = this.head(conversation);
    const missing = sinceSeq === undefined ? [] : this.log(conversation).filter((s) => s.seq > sinceSeq);
    const replay = missing.slice(0, this.opts.replayLimit ?? 500);
    const subscribed: ServerFrame = {
      type: 'subscribed',
      conversation,
      head_seq: head,
      replayed: replay.length,
      complete: replay.length === missing.length,
    };
    const first = this.opts.subscribedFirst ?? true;
    if (first) conn.send(subscribed);
    for (const s of replay) conn.send(eventFrame(conversation, s));
    if (!first) conn.send(subscribed);
  }

  private defaultFrame(conn: FakeConnection, frame: ClientFrame): void {
    switch (frame.type) {
      case 'subscribe':
        if (this.opts.autoSubscribe ?? true) this.replay(conn, frame.conversation, frame.since_seq);
        else conn.subscriptions.add(frame.conversation);
        return;
      case 'unsubscribe':
        conn.subscriptions.delete(frame.conversation);
        conn.send({ type: 'unsubscribed', conversation: frame.conversation, code: 'UNSUBSCRIBED' });
        return;
      case 'send':
        if ((this.opts.autoSend ?? true) && this.sendAllowed(conn, frame.client_id))
          this.commitSend(conn, frame);
        return;
      case 'ping':
        conn.send({ type: 'pong' });
        return;
      default:
        return;
    }
  }

  /** Idempotent on client_id, like the real server: a retry gets the original seq back. */
  commitSend(conn: FakeConnection, frame: Extract<ClientFrame, { type: 'send' }>, deliver = true): void {
    const known = this.sent.get(frame.client_id);
    if (known) {
      conn.send({ type: 'ack', client_id: frame.client_id, ...known });
      return;
    }
    const seq = this.head(frame.conversation) + 1;
    const message = this.makeMessage(frame.conversation, seq, frame.body, {
      sender: { type: 'user', user_id: this.userId },
      client_id: frame.client_id,
    });
    const stored: Stored = { seq, event: { type: 'message.created', message } };
    this.log(frame.conversation).push(stored);
    const ack = { conversation: frame.conversation, seq, message_id: message.id };
    this.sent.set(frame.client_id, ack);
    if (!deliver) return; // committed, but the ack and event are lost with the socket
    const ackFirst = this.opts.ackFirst ?? true;
    if (ackFirst) conn.send({ type: 'ack', client_id: frame.client_id, ...ack });
    this.publish(frame.conversation, stored);
    if (!ackFirst) conn.send({ type: 'ack', client_id: frame.client_id, ...ack });
  }

  // ---- HTTP -------------------------------------------------------------------------

  private async handleHttp(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString();
    const auth = req.headers.authorization;
    const rec: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      body: raw ? JSON.parse(raw) : undefined,
      token: auth?.startsWith('Bearer ') ? auth.slice(7) : undefined,
    };
    this.requests.push(rec);
    const reply = (r: FakeResponse) => {
      res.writeHead(r.status, { 'content-type': 'application/json' });
      res.end(r.body === undefined ? '' : JSON.stringify(r.body));
    };
    try {
      const hooked = await this.onHttp?.(rec);
      if (hooked) return reply(hooked);
      if (!rec.token) return reply(errorReply(401, 'UNAUTHENTICATED'));
      if (this.expiredTokens.has(rec.token)) return reply(errorReply(401, 'TOKEN_EXPIRED'));
      reply(this.route(rec));
    } catch (err) {
      reply({ status: 500, body: { error: { code: 'INTERNAL', message: String(err) } } });
    }
  }

  private route(req: RecordedRequest): FakeResponse {
    const m = /^\/v1\/conversations\/([^/]+)\/(events|messages|read)$/.exec(req.path);
    if (m) {
      const conversation = decodeURIComponent(m[1]);
      const log = this.log(conversation);
      const limit = Number(req.query.get('limit') ?? 100);
      if (m[2] === 'events' && req.method === 'GET') {
        const after = Number(req.query.get('after_seq') ?? 0);
        const rest = log.filter((s) => s.seq > after);
        const events = rest.slice(0, limit);
        return {
          status: 200,
          body: {
            conversation,
            events,
            head_seq: this.head(conversation),
            has_more: rest.length > events.length,
          },
        };
      }
      if (m[2] === 'messages' && req.method === 'GET') {
        const before = req.query.get('before_seq');
        const after = req.query.get('after_seq');
        let msgs = log.flatMap((s) => (s.event.type === 'message.created' ? [s.event.message] : []));
        if (before !== null) msgs = msgs.filter((x) => x.seq < Number(before)).slice(-limit);
        else if (after !== null) msgs = msgs.filter((x) => x.seq > Number(after)).slice(0, limit);
        return { status: 200, body: { messages: msgs, has_more: false } };
      }
      if (m[2] === 'messages' && req.method === 'POST') {
        const body = req.body as { body: string; client_id?: string };
        const key = (req.headers['idempotency-key'] as string | undefined) ?? body.client_id;
        const known = key ? this.sent.get(key) : undefined;
        if (known) {
          const s = log.find((x) => x.seq === known.seq);
          return {
            status: 200,
            body: { message: s?.event.type === 'message.created' ? s.event.message : null },
          };
        }
        const stored = this.append(conversation, body.body, {
          extra: { sender: { type: 'user', user_id: this.userId }, client_id: key ?? null },
        });
        if (key && stored.event.type === 'message.created') {
          this.sent.set(key, { conversation, seq: stored.seq, message_id: stored.event.message.id });
        }
        return {
          status: 201,
          body: { message: stored.event.type === 'message.created' ? stored.event.message : null },
        };
      }
      if (m[2] === 'read' && req.method === 'POST') {
        const seq = (req.body as { seq: number }).seq;
        const entry = this.setInbox(conversation, { last_read_seq: seq, unread_count: 0, mention_count: 0 });
        return { status: 200, body: { entry } };
      }
    }
    if (req.path === '/v1/inbox' && req.method === 'GET') {
      const since = Number(req.query.get('since') ?? 0);
      const limit = Number(req.query.get('limit') ?? 100);
      const changed = [...this.inbox.values()]
        .filter((e) => e.version > since)
        .sort((a, b) => a.version - b.version);
      const entries = changed.slice(0, limit);
      const nextSince = entries.at(-1)?.version ?? since;
      return {
        status: 200,
        body: { entries, next_since: nextSince, has_more: changed.length > entries.length },
      };
    }
    if (req.path === '/v1/notices' && req.method === 'GET') {
      const since = Number(req.query.get('since') ?? 0);
      const limit = Number(req.query.get('limit') ?? 50);
      const changed = [...this.notices.values()]
        .filter((n) => n.version > since)
        .sort((a, b) => a.version - b.version);
      const notices = changed.slice(0, limit);
      return {
        status: 200,
        body: {
          notices,
          next_since: notices.at(-1)?.version ?? since,
          has_more: changed.length > notices.length,
        },
      };
    }
    const n = /^\/v1\/notices\/([^/]+)$/.exec(req.path);
    if (n && req.method === 'PATCH') {
      const id = decodeURIComponent(n[1]);
      if (!this.notices.has(id)) return errorReply(404, 'NOTICE_NOT_FOUND');
      return { status: 200, body: { notice: this.setNotice(id, req.body as Partial<Notice>) } };
    }
    const d = /^\/v1\/direct\/([^/]+)$/.exec(req.path);
    if (d && req.method === 'PUT') {
      return {
        status: 200,
        body: { conversation: { id: `dm-${decodeURIComponent(d[1])}`, kind: 'direct' } },
      };
    }
    return errorReply(404, 'NOT_FOUND');
  }
}

/** An `event` frame as the gateway sends it: the lean form, which the SDK expands again. */
export function eventFrame(conversation: string, s: Stored): ServerFrame {
  const event = leanEvent(s.event as unknown as Record<string, unknown>, conversation, s.seq);
  return { type: 'event', conversation, seq: s.seq, event: event as unknown as WireEvent };
}

export function errorReply(status: number, code: ErrorCode, message: string = code): FakeResponse {
  return { status, body: { error: { code, message } } };
}

/** Bounded wait for a condition (no timing assertions: only a ceiling against hangs). */
export async function waitFor(cond: () => boolean, what = 'condition', timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A promise with its resolver outside, for holding an HTTP reply open. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
