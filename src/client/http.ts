// The HTTP half of the SDK: catch-up (events, history, inbox sync) and the
// few writes a client may prefer over the socket. Errors become
// HeraldClientError with the catalog code; a 401 TOKEN_EXPIRED asks the
// host for a new token once and retries.

import type {
  Conversation,
  ConversationEvent,
  InboxEntry,
  Message,
  Notice,
  ThreadEntry,
} from '../protocol/model.ts';
import type { MessageInputFields } from '../protocol/schema.ts';
import { errorFromBody, HeraldClientError } from './errors.ts';

export interface EventsPage {
  conversation: string;
  events: { seq: number; event: ConversationEvent }[];
  head_seq: number;
  has_more: boolean;
}

export interface MessagesPage {
  messages: Message[];
  has_more: boolean;
}

/** A page of a thread: its root and replies ascending by seq. */
export interface ThreadPage extends MessagesPage {
  root: Message;
}

export interface InboxPage {
  entries: InboxEntry[];
  next_since: number | string | null;
  has_more: boolean;
}

export interface NoticesPage {
  notices: Notice[];
  next_since: number | string | null;
  has_more: boolean;
}

/** The flags a user may set on their copy of a notice (PATCH /v1/notices/{id}). */
export interface NoticeFlags {
  read?: boolean;
  archived?: boolean;
  dismissed?: boolean;
  escalated?: boolean;
}

/** The body of POST …/messages: the protocol's message input. */
export type PostMessageInput = MessageInputFields;

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface HttpOptions {
  /** Base URL of a Herald node, e.g. `https://chat.example.com`. */
  baseUrl: string;
  /** The current access token. */
  token: () => string | undefined;
  /** Called on 401 TOKEN_EXPIRED; resolves with a fresh token. */
  refreshToken?: () => Promise<string>;
  /** Sees the entry of every successful markRead (the client settles its pending reads with it). */
  readMarked?: (entry: InboxEntry) => void;
  fetch?: FetchLike;
  /**
   * Give up on a request not fully answered (headers and body) within this long: NETWORK_ERROR,
   * retryable. fetch has no timeout of its own, and a request on a connection whose path died
   * (a NAT that forgot it, a network switch) would otherwise wait for ever, and with it every
   * catch-up or sync queued behind it. Default 20 s; 0 = no limit.
   */
  timeoutMs?: number;
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 20_000;

type Query = Record<string, string | number | undefined>;

export class HeraldHttp {
  private readonly baseUrl: string;
  private readonly fetchImpl: FetchLike;

  constructor(private readonly opts: HttpOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    const f = opts.fetch ?? globalThis.fetch;
    if (!f) throw new Error('No fetch available: pass the `fetch` option.');
    this.fetchImpl = (input, init) => f(input, init);
  }

  /** Events after `afterSeq`, ascending; the catch-up path for gaps and incomplete replays. */
  events(
    conversation: string,
    afterSeq: number,
    limit = 200,
    opts: { signal?: AbortSignal } = {},
  ): Promise<EventsPage> {
    return this.request('GET', `/v1/conversations/${enc(conversation)}/events`, {
      query: { after_seq: afterSeq, limit },
      signal: opts.signal,
    });
  }

  /** History, keyset by seq. */
  messages(
    conversation: string,
    page: { beforeSeq?: number; afterSeq?: number; limit?: number } = {},
  ): Promise<MessagesPage> {
    return this.request('GET', `/v1/conversations/${enc(conversation)}/messages`, {
      query: { before_seq: page.beforeSeq, after_seq: page.afterSeq, limit: page.limit },
    });
  }

  /** A thread's replies, keyset by seq (no bound: the newest page), with its root. */
  threadMessages(
    conversation: string,
    rootId: string,
    page: { beforeSeq?: number; afterSeq?: number; limit?: number } = {},
  ): Promise<ThreadPage> {
    return this.request('GET', `/v1/conversations/${enc(conversation)}/threads/${enc(rootId)}/messages`, {
      query: { before_seq: page.beforeSeq, after_seq: page.afterSeq, limit: page.limit },
    });
  }

  /** Your thread entries of a conversation (unread per thread), latest reply first; `rootId`: that one. */
  threads(
    conversation: string,
    opts: { limit?: number; rootId?: string } = {},
  ): Promise<{ threads: ThreadEntry[] }> {
    return this.request('GET', `/v1/conversations/${enc(conversation)}/threads`, {
      query: { limit: opts.limit, root_id: opts.rootId },
    });
  }

  /** Marks a thread read up to seq; your other devices get the entry as a `thread` frame. */
  markThreadRead(conversation: string, rootId: string, seq: number): Promise<{ thread: ThreadEntry }> {
    return this.request('POST', `/v1/conversations/${enc(conversation)}/threads/${enc(rootId)}/read`, {
      body: { seq },
    });
  }

  /** Inbox entries changed since a cursor (omit for the full list). */
  inbox(since?: number | string | null, limit?: number): Promise<InboxPage> {
    return this.request('GET', '/v1/inbox', {
      query: { since: since === null || since === undefined ? undefined : String(since), limit },
    });
  }

  /** Notices changed since a cursor, by version (omit `since` for the newest first). */
  notices(since?: number | string | null, limit?: number): Promise<NoticesPage> {
    return this.request('GET', '/v1/notices', {
      query: { since: since === null || since === undefined ? undefined : String(since), limit },
    });
  }

  /** Flags your copy of a notice; your other devices get the updated notice as a `notice` frame. */
  markNotice(id: string, flags: NoticeFlags): Promise<{ notice: Notice }> {
    return this.request('PATCH', `/v1/notices/${enc(id)}`, { body: flags });
  }

  /** Sends over HTTP; `client_id` doubles as the Idempotency-Key so a retry never duplicates. */
  postMessage(conversation: string, input: PostMessageInput): Promise<{ message: Message }> {
    const headers: Record<string, string> = {};
    if (input.client_id) headers['idempotency-key'] = input.client_id;
    return this.request('POST', `/v1/conversations/${enc(conversation)}/messages`, { body: input, headers });
  }

  async markRead(conversation: string, seq: number): Promise<{ entry: InboxEntry }> {
    const res = await this.request<{ entry: InboxEntry }>(
      'POST',
      `/v1/conversations/${enc(conversation)}/read`,
      { body: { seq } },
    );
    if (res?.entry) this.opts.readMarked?.(res.entry);
    return res;
  }

  /** The pair's direct conversation, created on first call. */
  direct(userId: string): Promise<{ conversation: Conversation }> {
    return this.request('PUT', `/v1/direct/${enc(userId)}`, {});
  }

  /** The request's signal: the caller's, aborted also `timeoutMs` after the start. */
  private deadline(callerSignal: AbortSignal | undefined): Deadline {
    const ms = this.opts.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    if (!(ms > 0) || typeof AbortController !== 'function') {
      return {
        signal: callerSignal,
        error: (cause, status) => new HeraldClientError('NETWORK_ERROR', undefined, { cause, status }),
        done: () => {},
      };
    }
    const ctl = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ctl.abort();
    }, ms);
    const onAbort = () => ctl.abort(callerSignal?.reason);
    if (callerSignal?.aborted) onAbort();
    else callerSignal?.addEventListener('abort', onAbort, { once: true });
    return {
      signal: ctl.signal,
      error: (cause, status) =>
        new HeraldClientError('NETWORK_ERROR', timedOut ? `No answer within ${ms} ms.` : undefined, {
          cause,
          status,
        }),
      done: () => {
        clearTimeout(timer);
        callerSignal?.removeEventListener('abort', onAbort);
      },
    };
  }

  async request<T>(
    method: string,
    path: string,
    opts: { query?: Query; body?: unknown; headers?: Record<string, string>; signal?: AbortSignal },
    retried = false,
  ): Promise<T> {
    const url = new URL(this.baseUrl + path);
    for (const [k, v] of Object.entries(opts.query ?? {}))
      if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
    const token = this.opts.token();
    if (token) headers.authorization = `Bearer ${token}`;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const deadline = this.deadline(opts.signal);
    let res: Response;
    let body: unknown;
    try {
      try {
        res = await this.fetchImpl(url.toString(), {
          method,
          headers,
          body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
          signal: deadline.signal,
        });
      } catch (cause) {
        throw deadline.error(cause);
      }
      let text: string;
      try {
        text = await res.text();
      } catch (cause) {
        throw deadline.error(cause, res.status);
      }
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch (cause) {
        throw new HeraldClientError('NETWORK_ERROR', 'The reply was not JSON.', {
          status: res.status,
          cause,
        });
      }
    } finally {
      deadline.done();
    }
    if (res.ok) return body as T;
    const err = errorFromBody(res.status, body, retryAfterMs(res.headers?.get?.('retry-after') ?? null));
    if (err.code === 'TOKEN_EXPIRED' && !retried && this.opts.refreshToken) {
      // Concurrent calls may all fail with the same old token: only the first refreshes.
      if (this.opts.token() === token) await this.opts.refreshToken();
      return this.request(method, path, opts, true);
    }
    throw err;
  }
}

interface Deadline {
  signal: AbortSignal | undefined;
  /** The error for a failed fetch or body read: NETWORK_ERROR, saying so when it was the timeout. */
  error(cause: unknown, status?: number): HeraldClientError;
  done(): void;
}

function enc(s: string): string {
  return encodeURIComponent(s);
}

/** Retry-After in seconds (or an HTTP date) → ms; undefined when absent or unreadable. */
function retryAfterMs(value: string | null): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const sec = Number(value);
  if (Number.isFinite(sec)) return sec >= 0 ? sec * 1000 : undefined;
  const at = Date.parse(value);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}
