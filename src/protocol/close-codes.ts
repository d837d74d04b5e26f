// WebSocket close codes, grouped by what the client must do next.
// 4000–4099: temporary — reconnect with backoff and resume from since_seq.
// 4100–4199: needs a new token — refresh, then reconnect.
// 4400–4499: permanent — do not reconnect without user action.

export const CLOSE = {
  /** Server is draining for a deploy; reconnect after the `drain` hint. */
  DRAIN: 4000,
  /** The socket fell too far behind; reconnect and resume from since_seq. */
  SLOW_CONSUMER: 4001,
  /** No traffic or pong within the idle window. */
  IDLE_TIMEOUT: 4002,
  /** Internal error; reconnect. */
  INTERNAL: 4003,
  /** Over the per-user or per-tenant socket cap; reconnect with backoff (another socket may close). */
  TOO_MANY_CONNECTIONS: 4004,
  /** The access token expired; refresh and reconnect. */
  TOKEN_EXPIRED: 4100,
  /** No valid token was presented (or in time). */
  UNAUTHENTICATED: 4101,
  /** The Origin is not allowed for this tenant. */
  ORIGIN_NOT_ALLOWED: 4400,
  /** The client broke the protocol (malformed frames, oversized frames). */
  PROTOCOL_ERROR: 4401,
  /** Too many frames or handshakes; back off before reconnecting. */
  RATE_LIMITED: 4402,
  /** Protocol version not supported. */
  UNSUPPORTED_VERSION: 4403,
} as const;

export type CloseCode = (typeof CLOSE)[keyof typeof CLOSE];

export type CloseAction = 'reconnect' | 'refresh' | 'stop';

export function closeAction(code: number): CloseAction {
  if (code === CLOSE.RATE_LIMITED) return 'reconnect';
  if (code >= 4100 && code < 4200) return 'refresh';
  if (code >= 4400 && code < 4500) return 'stop';
  return 'reconnect';
}
