// The SDK's one error type. Server-side failures carry the catalog code from
// src/protocol/errors.ts unchanged; the few failures only a client can see
// (no network, socket closed for good, token callback failed) get codes of
// their own so callers still branch on `code`, never on text.
import { ERRORS, type ErrorCode, isErrorCode, isRetryable } from '../protocol/errors.ts';

export const CLIENT_ERRORS = {
  /** fetch or the socket failed below HTTP (offline, DNS, reset) or the reply was not JSON. */
  NETWORK_ERROR: 'The network request failed.',
  /** The server closed the socket with a permanent code (closeAction() === 'stop'). */
  CONNECTION_CLOSED: 'The server closed the connection and asked the client not to reconnect.',
  /** The host's token callback threw or returned no token. */
  TOKEN_REFRESH_FAILED: 'The token callback failed.',
  /** disconnect() was called while this operation was pending. */
  DISCONNECTED: 'The client was disconnected.',
  /**
   * The offline storage (IndexedDB, or a host's HeraldStorage) could not be read or written
   * (quota, private mode, a blocked upgrade). Messaging goes on in memory; what was not written
   * is not there after a reload.
   */
  STORAGE_FAILED: "The client's offline storage failed; the client goes on in memory.",
  /**
   * The storage held another user's (or another server's) records: they were cleared, and that
   * user's unsent messages were not sent as this one. Their sends fail with this code.
   */
  STORAGE_OTHER_USER:
    "The offline storage belonged to another user; it was cleared and that user's unsent messages dropped.",
  /**
   * On the SSE fallback a stream carries at most 50 conversations (the server's cap): `ref` names
   * one that is open but not live until the client is back on WebSocket or others close.
   */
  SSE_CONVERSATION_LIMIT:
    'Over SSE the client streams at most 50 conversations at once; this one is not live.',
} as const;

export type ClientOnlyErrorCode = keyof typeof CLIENT_ERRORS;
export type ClientErrorCode = ErrorCode | ClientOnlyErrorCode;

export class HeraldClientError extends Error {
  readonly code: ClientErrorCode;
  /** HTTP status when the error came from an HTTP reply. */
  readonly status?: number;
  /** WebSocket close code when the error came from a close. */
  readonly closeCode?: number;
  /** The client_id or conversation an `error` frame referred to. */
  readonly ref?: string;
  /** The server's Retry-After, in ms, when the error came from an HTTP reply carrying one. */
  readonly retryAfterMs?: number;

  constructor(
    code: ClientErrorCode,
    message?: string,
    opts: { status?: number; closeCode?: number; ref?: string; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(message ?? defaultMessage(code), opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'HeraldClientError';
    this.code = code;
    this.status = opts.status;
    this.closeCode = opts.closeCode;
    this.ref = opts.ref;
    this.retryAfterMs = opts.retryAfterMs;
  }

  /** True when the same request may succeed later (the catalog's `retryable`, or no network). */
  get retryable(): boolean {
    return this.code === 'NETWORK_ERROR' || isRetryable(this.code);
  }
}

function defaultMessage(code: ClientErrorCode): string {
  return isErrorCode(code) ? ERRORS[code].message : CLIENT_ERRORS[code];
}

/** Reads an error body `{"error":{"code","message"}}`; unknown codes become INTERNAL. */
export function errorFromBody(status: number, body: unknown, retryAfterMs?: number): HeraldClientError {
  if (typeof body === 'object' && body !== null && 'error' in body) {
    const err = (body as { error: unknown }).error;
    if (typeof err === 'object' && err !== null) {
      const { code, message } = err as { code?: unknown; message?: unknown };
      const msg = typeof message === 'string' ? message : undefined;
      if (isErrorCode(code)) return new HeraldClientError(code, msg, { status, retryAfterMs });
    }
  }
  const fallback: ErrorCode = status === 401 ? 'UNAUTHENTICATED' : status === 404 ? 'NOT_FOUND' : 'INTERNAL';
  return new HeraldClientError(fallback, `HTTP ${status}`, { status, retryAfterMs });
}

/** Any failure as a client error: ours as they are, anything else wrapped under `fallback`. */
export function toClientError(err: unknown, fallback: ClientErrorCode): HeraldClientError {
  if (err instanceof HeraldClientError) return err;
  return new HeraldClientError(fallback, err instanceof Error ? err.message : undefined, { cause: err });
}
