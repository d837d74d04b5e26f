// The one error catalog. HTTP responses, WebSocket `error` frames and the SDK's
// HeraldError all carry these codes; clients branch on `code`, never on text.
// This module imports nothing so server and client can both depend on it.
// `retryable`: the same request may succeed later unchanged (capacity, outage);
// the SDK retries those (same client_id) after a delay and fails the others.

export const ERRORS = {
  BAD_REQUEST: { status: 400, message: 'The request is malformed.', retryable: false },
  VALIDATION_FAILED: { status: 400, message: 'The request does not match the schema.', retryable: false },
  EMPTY_BODY: { status: 400, message: 'The message body is empty.', retryable: false },
  BODY_TOO_LARGE: { status: 413, message: 'The message body exceeds the size cap.', retryable: false },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request payload exceeds the size cap.', retryable: false },
  URI_TOO_LONG: { status: 414, message: 'A path parameter is too long.', retryable: false },
  HEADERS_TOO_LARGE: {
    status: 431,
    message: 'The request line and headers are too large.',
    retryable: false,
  },
  REQUEST_TIMEOUT: { status: 408, message: 'The request was not received in time.', retryable: false },
  TOO_MANY_MENTIONS: { status: 400, message: 'Too many mentions in one message.', retryable: false },
  TOO_MANY_ATTACHMENTS: { status: 400, message: 'Too many attachments in one message.', retryable: false },
  TOO_MANY_MEMBERS: { status: 400, message: 'Too many members in one call.', retryable: false },
  INVALID_THREAD_ROOT: {
    status: 400,
    message: 'thread_root must name a message of the same conversation.',
    retryable: false,
  },
  INVALID_REPLY: {
    status: 400,
    message: 'reply_to must name a message of the same conversation.',
    retryable: false,
  },
  INVALID_MENTION: {
    status: 400,
    message: 'A mentioned user is not a member of the conversation.',
    retryable: false,
  },
  INVALID_KIND: {
    status: 400,
    message: 'That operation is not allowed on this kind of conversation.',
    retryable: false,
  },
  WEBHOOK_URL_REFUSED: {
    status: 400,
    message: 'The webhook URL is not allowed (scheme, or a private, loopback or link-local address).',
    retryable: false,
  },
  PUSH_ENDPOINT_REFUSED: {
    status: 400,
    message:
      'The push subscription endpoint is not allowed (scheme, or a private, loopback or link-local address).',
    retryable: false,
  },
  PUSH_NOT_CONFIGURED: {
    status: 400,
    message: 'This server has no credentials for that push platform.',
    retryable: false,
  },
  INVALID_EMOJI: { status: 400, message: 'A reaction must be one emoji.', retryable: false },
  INVALID_SEQ: {
    status: 400,
    message: 'The sequence number is beyond the head of the conversation.',
    retryable: false,
  },
  UNAUTHENTICATED: { status: 401, message: 'Missing or invalid credentials.', retryable: false },
  TOKEN_EXPIRED: { status: 401, message: 'The access token has expired.', retryable: false },
  REFRESH_REUSED: {
    status: 401,
    message: 'The refresh token was already used; its family is revoked.',
    retryable: false,
  },
  FORBIDDEN: { status: 403, message: 'Not allowed.', retryable: false },
  NOT_A_MEMBER: { status: 403, message: 'You are not a member of this conversation.', retryable: false },
  NOT_AUTHOR: { status: 403, message: 'Only the author may change this message.', retryable: false },
  NOT_ADMIN: { status: 403, message: 'Only admins or the system may do this.', retryable: false },
  ORIGIN_NOT_ALLOWED: {
    status: 403,
    message: 'The Origin is not on the tenant allow-list.',
    retryable: false,
  },
  TENANT_NOT_FOUND: { status: 404, message: 'No such tenant.', retryable: false },
  USER_NOT_FOUND: { status: 404, message: 'No such user.', retryable: false },
  CONVERSATION_NOT_FOUND: { status: 404, message: 'No such conversation.', retryable: false },
  MESSAGE_NOT_FOUND: { status: 404, message: 'No such message.', retryable: false },
  NOTICE_NOT_FOUND: { status: 404, message: 'No such notice.', retryable: false },
  WEBHOOK_NOT_FOUND: { status: 404, message: 'No such webhook endpoint.', retryable: false },
  WEBHOOK_DELIVERY_NOT_FOUND: { status: 404, message: 'No such webhook delivery.', retryable: false },
  DEVICE_NOT_FOUND: { status: 404, message: 'No such device.', retryable: false },
  NOT_FOUND: { status: 404, message: 'No such route.', retryable: false },
  MESSAGE_DELETED: { status: 409, message: 'The message was deleted.', retryable: false },
  CONFLICT: { status: 409, message: 'The request conflicts with the current state.', retryable: false },
  IDEMPOTENCY_KEY_REUSED: {
    status: 422,
    message: 'The idempotency key was already used for a different request.',
    retryable: false,
  },
  RATE_LIMITED: { status: 429, message: 'Too many requests; retry later.', retryable: true },
  TOO_MANY_CONNECTIONS: {
    status: 429,
    message: 'Too many open connections for this user or tenant.',
    retryable: true,
  },
  UNKNOWN_FRAME: { status: 400, message: 'Unknown frame type.', retryable: false },
  NOT_READY: { status: 503, message: 'The node is not ready.', retryable: true },
  STORE_UNAVAILABLE: { status: 503, message: 'The database is unavailable; retry shortly.', retryable: true },
  INTERNAL: { status: 500, message: 'Internal error.', retryable: false },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    message: 'The content type is not supported; send application/json.',
    retryable: false,
  },
} as const satisfies Record<string, { status: number; message: string; retryable: boolean }>;

export type ErrorCode = keyof typeof ERRORS;

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: unknown };
}

/** True for codes where repeating the same request later may succeed (see `retryable`). */
export function isRetryable(code: unknown): boolean {
  return isErrorCode(code) && ERRORS[code].retryable;
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERRORS, value);
}

/** A typed error from the catalog. Thrown by the domain, rendered by HTTP and WS. */
export class HeraldError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details?: unknown;
  /** Seconds the caller should wait (rate limits). */
  readonly retryAfter?: number;

  constructor(code: ErrorCode, message?: string, opts: { details?: unknown; retryAfter?: number } = {}) {
    super(message ?? ERRORS[code].message);
    this.name = 'HeraldError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.details = opts.details;
    this.retryAfter = opts.retryAfter;
  }

  toBody(): ErrorBody {
    const body: ErrorBody = { error: { code: this.code, message: this.message } };
    if (this.details !== undefined) body.error.details = this.details;
    return body;
  }
}
