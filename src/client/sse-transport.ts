// The fallback transport for networks that block WebSockets: the server's SSE
// downlink (GET /v1/sse, docs/protocol.md#server-sent-events) for receiving,
// HTTP for sending and reading. It is shaped as a WebSocketLike, so the
// client's state machine, resume and gap repair run unchanged on top of it:
//
//   downlink  each SSE `data:` is the same JSON frame a WebSocket would carry;
//             `event: close {code, reason}` is a close with that code;
//             keep-alive comments count as pongs (the socket is alive).
//   send      POST …/messages (Idempotency-Key = client_id), one at a time so
//             the order holds → a synthesized `ack`, or `error {ref: client_id}`.
//   read      POST …/read → the answer's entry settles it (HeraldHttp.readMarked),
//             or `error {ref: conversation}`.
//   subscribe a stream names its conversations when it opens: one it covers
//             is already subscribed (ignored); any other (opened later, or
//             refused and asked again) ends this stream so the client redials
//             with the new list and resumes every conversation from its seq.
//   typing    POST …/typing, best effort: a failure is dropped, like a shed frame.
//   auth      a stream keeps the token it opened with: a renewed token ends
//             the stream, and the next one opens with the new token.
//   view, heartbeat and the like have no HTTP route: dropped (ephemeral,
//             best effort by contract, DESIGN §7).
// A network failure of any request is the transport failing: the stream is
// closed (1006) and the client resends what was unconfirmed, as after a drop.
import { CLOSE } from '../protocol/close-codes.ts';
import type { ClientFrame, WelcomeLimits } from '../protocol/frames.ts';
import { errorFromBody, HeraldClientError } from './errors.ts';
import type { FetchLike, HeraldHttp, PostMessageInput } from './http.ts';
import type { SocketEventLike, WebSocketLike } from './socket.ts';

/** The server's cap on conversations per stream (docs/protocol.md). */
export const SSE_MAX_CONVERSATIONS = 50;

export interface SseSocketOptions {
  /** The stream URL: <url>/v1/sse?device_id=…&conversations=…&since_seq=… (see sseUrl()). */
  url: string;
  token: string;
  /** The conversations the URL names: subscribed by the server as the stream opens. */
  conversations: readonly string[];
  /** Open conversations past the per-stream cap: not streamed, and reopening cannot help. */
  beyondCap?: readonly string[];
  fetch: FetchLike;
  http: HeraldHttp;
}

type Listener = (event: SocketEventLike) => void;
type EventType = 'open' | 'message' | 'close' | 'error';

/** The stream URL for these conversations, each from its seq (none: live only). */
export function sseUrl(
  base: string,
  deviceId: string,
  conversations: readonly { conversation: string; seq: number | null }[],
): string {
  const url = new URL(`${base.replace(/\/+$/, '')}/v1/sse`);
  url.searchParams.set('device_id', deviceId);
  if (conversations.length > 0)
    url.searchParams.set('conversations', conversations.map((c) => c.conversation).join(','));
  const since = conversations
    .filter((c) => c.seq !== null)
    .map((c) => `${encodeURIComponent(c.conversation)}:${c.seq}`);
  if (since.length > 0) url.searchParams.set('since_seq', since.join(','));
  return url.toString();
}

/**
 * The pace over HTTP: requests are not socket frames, so only the send budget (shared with the
 * HTTP route) applies; the frame bucket is opened wide so subscribes are written at once.
 */
export function httpLimits(limits: Partial<WelcomeLimits> | undefined): Partial<WelcomeLimits> {
  return { ...limits, frames_per_sec: 1_000_000, frames_burst: 1_000_000 };
}

/** What a refusal before the stream starts means, as the close code of a refused WebSocket. */
export function refusalCloseCode(err: HeraldClientError): number {
  switch (err.code) {
    case 'TOKEN_EXPIRED':
      return CLOSE.TOKEN_EXPIRED;
    case 'UNAUTHENTICATED':
      return CLOSE.UNAUTHENTICATED;
    case 'ORIGIN_NOT_ALLOWED':
      return CLOSE.ORIGIN_NOT_ALLOWED;
    case 'RATE_LIMITED':
      return CLOSE.RATE_LIMITED;
    case 'TOO_MANY_CONNECTIONS':
      return CLOSE.TOO_MANY_CONNECTIONS;
    case 'VALIDATION_FAILED':
    case 'BAD_REQUEST':
      return CLOSE.PROTOCOL_ERROR;
    case 'NOT_READY':
    case 'STORE_UNAVAILABLE':
    case 'INTERNAL':
      return CLOSE.INTERNAL;
    default:
      // NOT_FOUND (no SSE route here: an old server, a node without the gateway role) and the
      // rest: the transport is not available, like a refused upgrade.
      return 1006;
  }
}

export class SseSocket implements WebSocketLike {
  private state = 0; // CONNECTING
  private readonly listeners = new Map<EventType, Listener[]>();
  private readonly abort = typeof AbortController === 'function' ? new AbortController() : null;
  /** Conversations this stream delivers: named at open, not unsubscribed, not refused. */
  private readonly covered: Set<string>;
  private readonly beyondCap: ReadonlySet<string>;
  private sends: Promise<void> = Promise.resolve();
  private _reopen = false;

  constructor(private readonly opts: SseSocketOptions) {
    this.covered = new Set(opts.conversations);
    this.beyondCap = new Set(opts.beyondCap ?? []);
    void this.run();
  }

  get readyState(): number {
    return this.state;
  }

  /** True when this stream ended itself to be reopened at once (a new conversation, a new token). */
  get reopen(): boolean {
    return this._reopen;
  }

  addEventListener(type: EventType, listener: Listener): void {
    const list = this.listeners.get(type) ?? [];
    list.push(listener);
    this.listeners.set(type, list);
  }

  send(data: string): void {
    if (this.state !== 1) return;
    let frame: ClientFrame;
    try {
      frame = JSON.parse(data) as ClientFrame;
    } catch {
      return;
    }
    switch (frame.type) {
      case 'subscribe':
        if (!this.covered.has(frame.conversation) && !this.beyondCap.has(frame.conversation))
          this.reopenWith('a conversation to add');
        return;
      case 'unsubscribe':
        this.covered.delete(frame.conversation);
        return;
      case 'send':
        this.post(frame);
        return;
      case 'read':
        void this.markRead(frame.conversation, frame.seq);
        return;
      case 'typing':
        this.opts.http
          .request('POST', `/v1/conversations/${encodeURIComponent(frame.conversation)}/typing`, {})
          .catch(() => {}); // ephemeral: never retried, never an error (DESIGN §7)
        return;
      case 'auth':
        this.reopenWith('a renewed token');
        return;
      default:
        // ping (answered by keep-alives), view, heartbeat…: no HTTP route.
        return;
    }
  }

  close(code = 1000, reason = ''): void {
    this.finish(code, reason);
  }

  // ---- the downlink ---------------------------------------------------------

  private async run(): Promise<void> {
    let res: Response;
    try {
      res = await this.opts.fetch(this.opts.url, {
        method: 'GET',
        headers: { accept: 'text/event-stream', authorization: `Bearer ${this.opts.token}` },
        signal: this.abort?.signal,
      });
    } catch {
      this.finish(1006, 'the event stream could not be opened');
      return;
    }
    if (this.state === 3) return;
    if (!res.ok) {
      let body: unknown;
      try {
        body = JSON.parse(await res.text());
      } catch {
        body = undefined;
      }
      const err = errorFromBody(res.status, body);
      this.finish(refusalCloseCode(err), `${err.code}: ${err.message}`);
      return;
    }
    const type = res.headers.get('content-type') ?? '';
    if (!type.startsWith('text/event-stream') || !res.body) {
      // E.g. a proxy's HTML page with a 200: not Herald's stream.
      this.finish(1006, `not an event stream (${type || 'no content type'})`);
      return;
    }
    this.state = 1;
    this.dispatch('open', { type: 'open' });
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    const parser = new SseParser((event, data) => this.onEvent(event, data));
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (this.state === 3) return;
        if (done) break;
        parser.push(decoder.decode(value, { stream: true }));
      }
    } catch {
      // Reset, aborted: the stream is gone.
    }
    this.finish(1006, 'the event stream ended');
  }

  private onEvent(event: string | null, data: string | null): void {
    if (this.state !== 1) return;
    if (data === null) {
      // A comment (keep-alive): the stream is alive, as a pong says on a socket.
      this.message('{"type":"pong"}');
      return;
    }
    if (event === 'close') {
      let code = 1006;
      let reason = 'closed by the server';
      try {
        const c = JSON.parse(data) as { code?: unknown; reason?: unknown };
        if (typeof c.code === 'number') code = c.code;
        if (typeof c.reason === 'string') reason = c.reason;
      } catch {
        // keep the defaults
      }
      this.finish(code, reason);
      return;
    }
    if (event !== null && event !== 'message') return;
    // A conversation the server could not subscribe is not covered: asking again reopens.
    if (data.includes('"error"')) {
      try {
        const f = JSON.parse(data) as { type?: unknown; ref?: unknown };
        if (f.type === 'error' && typeof f.ref === 'string') this.covered.delete(f.ref);
      } catch {
        // the client reports unparseable frames
      }
    }
    this.message(data);
  }

  // ---- the uplink -----------------------------------------------------------

  /** Sends go one at a time, in the order written, as frames on one socket would. */
  private post(frame: Extract<ClientFrame, { type: 'send' }>): void {
    const { type: _type, conversation, ...input } = frame;
    this.sends = this.sends.then(async () => {
      if (this.state !== 1) return;
      try {
        const { message } = await this.opts.http.postMessage(conversation, input as PostMessageInput);
        this.message(
          JSON.stringify({
            type: 'ack',
            client_id: frame.client_id,
            conversation,
            seq: message.seq,
            message_id: message.id,
          }),
        );
      } catch (err) {
        this.failed(err, frame.client_id);
      }
    });
  }

  private async markRead(conversation: string, seq: number): Promise<void> {
    try {
      await this.opts.http.markRead(conversation, seq);
    } catch (err) {
      this.failed(err, conversation);
    }
  }

  /** A request failed: the transport (1006), the token (4100), or this request (an `error` frame). */
  private failed(err: unknown, ref: string): void {
    if (this.state !== 1) return;
    const e =
      err instanceof HeraldClientError
        ? err
        : new HeraldClientError('NETWORK_ERROR', undefined, { cause: err });
    if (e.code === 'NETWORK_ERROR') this.finish(1006, `a request failed: ${e.message}`);
    else if (e.code === 'TOKEN_EXPIRED' || e.code === 'UNAUTHENTICATED')
      this.finish(CLOSE.TOKEN_EXPIRED, e.code);
    else this.message(JSON.stringify({ type: 'error', code: e.code, message: e.message, ref }));
  }

  // ---- plumbing -------------------------------------------------------------

  private reopenWith(what: string): void {
    if (this.state === 3) return;
    this._reopen = true;
    this.finish(1000, `reopening the stream with ${what}`);
  }

  private message(data: string): void {
    this.dispatch('message', { type: 'message', data });
  }

  private finish(code: number, reason: string): void {
    if (this.state === 3) return;
    this.state = 3;
    this.abort?.abort();
    // Asynchronous, as a WebSocket's close event is.
    queueMicrotask(() => this.dispatch('close', { type: 'close', code, reason }));
  }

  private dispatch(type: EventType, event: SocketEventLike): void {
    for (const l of this.listeners.get(type) ?? []) l(event);
  }
}

/**
 * The text/event-stream format (HTML Living Standard, "server-sent events"): lines ending in CR,
 * LF or CRLF; `field: value`; a blank line dispatches the event. Calls `on(event, data)` per event,
 * and `on(null, null)` per comment line.
 */
export class SseParser {
  private buf = '';
  private data: string[] = [];
  private event: string | null = null;

  constructor(private readonly on: (event: string | null, data: string | null) => void) {}

  push(chunk: string): void {
    this.buf += chunk;
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buf);
      if (!m) return;
      // A lone CR at the very end may be the first half of a CRLF split across chunks.
      if (m[0] === '\r' && m.index === this.buf.length - 1) return;
      const line = this.buf.slice(0, m.index);
      this.buf = this.buf.slice(m.index + m[0].length);
      this.line(line);
    }
  }

  private line(line: string): void {
    if (line === '') {
      if (this.data.length > 0) this.on(this.event, this.data.join('\n'));
      this.data = [];
      this.event = null;
      return;
    }
    if (line.startsWith(':')) {
      this.on(null, null);
      return;
    }
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    let value = i < 0 ? '' : line.slice(i + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    // `id` (the client resumes from its own seqs) and `retry` (its own backoff) are not needed.
  }
}
