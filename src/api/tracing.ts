// Trace context of HTTP requests (DESIGN §11). Each request gets a trace id before
// anything else runs, so every log line of it carries `trace_id`: the caller's
// `traceparent` (W3C), else its `X-Trace-Id`, else a new one. What the request writes
// carries its traceparent into the outbox rows, the bus and the frames. With OpenTelemetry
// export on, the request is a server span and a send's commit a child span of it.
import type { IncomingMessage } from 'node:http';
import type { FastifyRequest } from 'fastify';
import {
  formatTraceparent,
  isW3cTraceId,
  newSpanId,
  newTraceId,
  parseTraceparent,
} from '../tracing/context.ts';
import { noTracing, type SpanHandle, type Tracing } from '../tracing/tracer.ts';
import type { App } from './context.ts';

/** Before W3C trace context: any id of up to 64 word characters, dots and dashes. */
const LEGACY_TRACE_ID = /^[\w.-]{1,64}$/;

interface Incoming {
  traceId: string;
  /** The caller's traceparent, when it sent a valid one. */
  parent: string | null;
  flags: string;
}

const incoming = new WeakMap<IncomingMessage, Incoming>();

/** Fastify's genReqId: the request's trace id (its log label is `trace_id`). */
export function requestTraceId(req: IncomingMessage): string {
  const header = req.headers.traceparent;
  const parent = parseTraceparent(typeof header === 'string' ? header : undefined);
  if (parent) {
    incoming.set(req, { traceId: parent.traceId, parent: formatTraceparent(parent), flags: parent.flags });
    return parent.traceId;
  }
  const given = req.headers['x-trace-id'];
  const traceId = typeof given === 'string' && LEGACY_TRACE_ID.test(given) ? given : newTraceId();
  incoming.set(req, { traceId, parent: null, flags: '01' });
  return traceId;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** What this request's writes carry as their trace (a traceparent, or an opaque X-Trace-Id). */
    traceparent: string;
    /** The server span, when export is on. */
    span: SpanHandle | null;
  }
}

export function installTracing(app: App, tracing: Tracing = noTracing): void {
  app.decorateRequest('traceparent', '');
  app.decorateRequest('span', null);
  app.addHook('onRequest', async (req) => {
    const inc = incoming.get(req.raw) ?? { traceId: req.id, parent: null, flags: '01' };
    // An opaque X-Trace-Id (not 32 hex digits) travels as it is, outside W3C tracing.
    const w3c = isW3cTraceId(inc.traceId);
    req.traceparent = w3c
      ? formatTraceparent({ traceId: inc.traceId, spanId: newSpanId(), flags: inc.flags })
      : inc.traceId;
    if (!tracing.enabled || !w3c) return;
    const route = req.routeOptions.url ?? 'unmatched';
    req.span = tracing.start(`${req.method} ${route}`, inc.parent, {
      kind: 'server',
      traceId: inc.traceId,
      attributes: { 'http.request.method': req.method, 'http.route': route },
    });
    if (req.span) req.traceparent = req.span.traceparent;
  });
  app.addHook('onResponse', async (req, reply) => {
    req.span?.end({ 'http.response.status_code': reply.statusCode }, reply.statusCode >= 500);
  });
}

/**
 * Runs `fn` as a child span of the request (the commit of a send), handing it the
 * traceparent its writes carry; without export, simply the request's.
 */
export async function inSpan<T>(
  req: FastifyRequest,
  tracing: Tracing,
  name: string,
  fn: (traceparent: string) => Promise<T>,
): Promise<T> {
  const span = req.span ? tracing.start(name, req.span.traceparent) : null;
  if (!span) return fn(req.traceparent);
  try {
    const out = await fn(span.traceparent);
    span.end();
    return out;
  } catch (err) {
    span.end({ 'error.type': err instanceof Error ? err.name : 'error' }, true);
    throw err;
  }
}
