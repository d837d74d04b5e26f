// Opening sockets: the gateway URL, the token in the subprotocol list (never in
// the URL: proxies log URLs), and the token-less probe that asks, while on SSE,
// whether WebSockets get through again.
import { PROTOCOL_VERSION } from '../protocol/frames.ts';
import type { WebSocketConstructor, WebSocketLike } from './socket.ts';

/** Offered with the token so the server has a subprotocol to echo (it never echoes the token). */
const SUBPROTOCOL = 'herald.v1';
const BEARER_PROTOCOL = 'herald.bearer.';
/** RFC 7230 `token`: what a subprotocol may be. JWTs (base64url and dots) always qualify. */
const SUBPROTOCOL_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** The gateway URL: `wsUrl`, or `url` with ws(s):// and /v1/ws; device and protocol version in the query. */
export function socketUrl(url: string, wsUrl: string | undefined, deviceId: string): string {
  const base = wsUrl ?? `${url.replace(/^http/, 'ws').replace(/\/+$/, '')}/v1/ws`;
  const u = new URL(base);
  u.searchParams.set('device_id', deviceId);
  u.searchParams.set('v', String(PROTOCOL_VERSION));
  return u.toString();
}

/**
 * A WebSocket carrying the token. A token that is not a valid subprotocol token (RFC 6455: RFC 7230
 * tchars) goes in a first `auth` frame instead: `authFrame` says so. Throws what the constructor throws.
 */
export function openWebSocket(
  WS: WebSocketConstructor,
  url: string,
  token: string,
): { ws: WebSocketLike; authFrame: boolean } {
  const inProtocol = SUBPROTOCOL_TOKEN.test(token);
  const ws = new WS(url, inProtocol ? [SUBPROTOCOL, `${BEARER_PROTOCOL}${token}`] : [SUBPROTOCOL]);
  return { ws, authFrame: !inProtocol };
}

/**
 * Does a WebSocket open now? The probe offers no token (the gateway waits for an `auth` frame, and
 * we close first), so it opens no session. `done` is called once: opened, or not (closed, failed,
 * or the timeout that `arm` schedules fired; `disarm` cancels it). False, and no `done`, when the
 * URL or the constructor threw.
 */
export function probeWebSocket(
  WS: WebSocketConstructor,
  url: () => string,
  timeout: { arm: (fn: () => void) => void; disarm: () => void },
  done: (opened: boolean) => void,
): boolean {
  let probe: WebSocketLike;
  try {
    probe = new WS(url(), [SUBPROTOCOL]);
  } catch {
    return false;
  }
  let settled = false;
  const settle = (opened: boolean) => {
    if (settled) return;
    settled = true;
    timeout.disarm();
    try {
      probe.close(1000, 'probe');
    } catch {
      // still connecting in some runtimes: it goes anyway
    }
    done(opened);
  };
  probe.addEventListener('open', () => settle(true));
  probe.addEventListener('close', () => settle(false));
  probe.addEventListener('error', () => {});
  timeout.arm(() => settle(false));
  return true;
}
