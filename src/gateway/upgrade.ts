// The HTTP side of a gateway handshake, shared by WebSocket and SSE: refusals before the
// upgrade (in the catalog's shape), where the token may travel, the device id, and what
// `welcome` announces of the limits.
import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { ErrorCode, WelcomeLimits } from '../protocol/index.ts';
import type { ResolvedOptions } from './options.ts';

const DEVICE_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** The client's device id when well-formed (WebSocket and SSE alike), else a fresh one. */
export function deviceIdOf(param: string | null | undefined): string {
  return param && DEVICE_ID.test(param) ? param : randomUUID();
}

/** The catalog code of each status a handshake may be refused with before the upgrade. */
const REFUSAL_CODES: Record<number, ErrorCode> = {
  404: 'NOT_FOUND',
  429: 'RATE_LIMITED',
  500: 'INTERNAL',
  503: 'NOT_READY',
};

export function refuse(
  socket: Duplex,
  status: number,
  text: string,
  headers: Record<string, string> = {},
): void {
  const extra = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  const body = JSON.stringify({
    error: {
      code: REFUSAL_CODES[status] ?? 'NOT_FOUND',
      message: text,
    },
  });
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`,
  );
}

/** Browsers may carry the token as a subprotocol: `herald.v1, herald.bearer.<token>`. */
export const SUBPROTOCOL = 'herald.v1';
const BEARER_PROTOCOL = 'herald.bearer.';

export function subprotocolToken(header: string | undefined): string | null {
  if (!header) return null;
  for (const p of header.split(',')) {
    const v = p.trim();
    if (v.startsWith(BEARER_PROTOCOL) && v.length > BEARER_PROTOCOL.length)
      return v.slice(BEARER_PROTOCOL.length);
  }
  return null;
}

/** What `welcome.limits` tells clients, so they can pace sends and frames below the refusals. */
export function welcomeLimits(opts: ResolvedOptions): WelcomeLimits {
  const send = opts.sendLimiter.rate ?? { perSec: 20, burst: 20 };
  return {
    send_per_sec: send.perSec,
    send_burst: send.burst,
    frames_per_sec: opts.frameRate.perSec,
    frames_burst: opts.frameRate.burst,
  };
}
