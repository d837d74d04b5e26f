// W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` value
// `00-<32 hex trace id>-<16 hex parent span id>-<2 hex flags>`. One trace id follows a
// write from the HTTP request through the outbox row and the bus to the frame and the logs.
import { randomBytes } from 'node:crypto';

export interface TraceContext {
  traceId: string;
  spanId: string;
  /** Two hex digits; bit 0 is "sampled". */
  flags: string;
}

const TRACEPARENT = /^([\da-f]{2})-([\da-f]{32})-([\da-f]{16})-([\da-f]{2})(-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);
const HEX32 = /^[\da-f]{32}$/;

/**
 * Parses a traceparent header; null when it is not a valid one (version ff, all-zero ids,
 * wrong lengths, upper case). Versions above 00 are read by their first four fields, as the
 * specification asks.
 */
export function parseTraceparent(value: string | undefined | null): TraceContext | null {
  if (!value) return null;
  const m = TRACEPARENT.exec(value.trim());
  if (!m) return null;
  const [, version, traceId, spanId, flags, rest] = m;
  if (version === 'ff' || (version === '00' && rest !== undefined)) return null;
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return null;
  return { traceId, spanId, flags };
}

export function formatTraceparent(c: TraceContext): string {
  return `00-${c.traceId}-${c.spanId}-${c.flags}`;
}

export const newTraceId = (): string => randomBytes(16).toString('hex');
export const newSpanId = (): string => randomBytes(8).toString('hex');

/** A trace id in W3C form (32 lower-case hex digits, not all zero). */
export const isW3cTraceId = (id: string): boolean => HEX32.test(id) && id !== ZERO_TRACE;

/** A fresh trace for work that starts inside Herald (a WebSocket `send`). */
export function newTraceparent(): string {
  return formatTraceparent({ traceId: newTraceId(), spanId: newSpanId(), flags: '01' });
}

/**
 * The trace id of what an outbox row carries: a traceparent, or an opaque id a client gave
 * as X-Trace-Id (kept as it was).
 */
export function traceIdOf(carried: string): string {
  return parseTraceparent(carried)?.traceId ?? carried;
}
