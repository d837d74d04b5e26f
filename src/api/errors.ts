// The one error handler: every failure leaves as
// {"error": {"code", "message"}} with the catalog's status. Framework errors
// (schema, JSON, size, media type) map onto catalog codes; anything else is
// INTERNAL — logged with its stack, never shown (no stack, no SQL). A lost or
// unreachable database is 503 STORE_UNAVAILABLE with Retry-After, never INTERNAL.
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { HeraldError } from '../protocol/index.ts';
import { validationMessage } from '../protocol/issues.ts';
import { asStoreError, isStoreUnavailable } from '../store/unavailable.ts';
import type { App } from './context.ts';

const FRAMEWORK: Record<string, HeraldError['code']> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'BAD_REQUEST',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
  // Raised by the router before any route runs (see frameworkErrorHandler).
  FST_ERR_BAD_URL: 'BAD_REQUEST',
  FST_ERR_MAX_PARAM_LENGTH: 'URI_TOO_LONG',
  // Raised by Node's HTTP parser before Fastify sees a request (see clientErrorHandler).
  ERR_HTTP_REQUEST_TIMEOUT: 'REQUEST_TIMEOUT',
  HPE_HEADER_OVERFLOW: 'HEADERS_TOO_LARGE',
};

interface ValidationIssue {
  instancePath?: string;
  message?: string;
}

export function toHeraldError(err: unknown): HeraldError | null {
  if (err instanceof HeraldError) return err;
  // The store adapters already translate; this catches a driver error that got past them.
  if (isStoreUnavailable(err)) return asStoreError(err) as HeraldError;
  const e = err as Partial<FastifyError> & { validation?: ValidationIssue[]; validationContext?: string };
  if (Array.isArray(e.validation)) {
    // The issues come from validatorCompiler (readable, one per field); others pass as they are.
    const issues = e.validation.slice(0, 10).map((v) => ({
      path: `${e.validationContext ?? 'body'}${v.instancePath ?? ''}`,
      message: v.message ?? 'is invalid',
    }));
    return new HeraldError('VALIDATION_FAILED', validationMessage(issues), { details: issues });
  }
  if (typeof e.code === 'string' && FRAMEWORK[e.code]) return new HeraldError(FRAMEWORK[e.code]);
  // Other client errors raised by the framework (e.g. a malformed URL).
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500)
    return new HeraldError('BAD_REQUEST');
  return null;
}

export function installErrorHandlers(app: App): void {
  app.setErrorHandler((err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    let he = toHeraldError(err);
    if (!he) {
      req.log.error({ err }, 'unhandled error');
      he = new HeraldError('INTERNAL');
    } else if (he.code === 'STORE_UNAVAILABLE') {
      req.log.warn({ err: he.cause ?? err }, he.code); // an outage, not a bug: no stack flood
    } else if (he.status >= 500) {
      req.log.error({ err }, he.code);
    }
    if (he.retryAfter !== undefined)
      reply.header('retry-after', String(Math.max(1, Math.ceil(he.retryAfter))));
    return reply.status(he.status).send(he.toBody());
  });
  app.setNotFoundHandler((_req, reply) => {
    const he = new HeraldError('NOT_FOUND');
    return reply.status(he.status).send(he.toBody());
  });
}

/**
 * Fastify's `frameworkErrors`: errors the router raises before a route (or any hook) runs —
 * a malformed percent-encoding (FST_ERR_BAD_URL), a path parameter over maxParamLength —
 * which Fastify would otherwise answer in its own shape.
 */
export function frameworkErrorHandler(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  const he = toHeraldError(err) ?? new HeraldError('BAD_REQUEST');
  void reply.status(he.status).header('x-trace-id', req.id).send(he.toBody());
}

/**
 * Fastify's `clientErrorHandler`: what Node's HTTP parser rejects (a bad Content-Length,
 * a malformed request line, headers over the limit, a request not received in time) is
 * answered on the raw socket, in the catalog's shape, and the connection closed.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  // A reset or destroyed socket cannot be answered.
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const code = (err.code && FRAMEWORK[err.code]) || 'BAD_REQUEST';
  const he = new HeraldError(code);
  if (socket.writable) {
    const body = JSON.stringify(he.toBody());
    socket.write(
      `HTTP/1.1 ${he.status} ${STATUS_CODES[he.status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}
