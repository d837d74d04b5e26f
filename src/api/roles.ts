// Node roles (HERALD_ROLES / --roles): one codebase, three jobs that scale
// apart. A role a node does not run is refused in the catalog's shape, with a
// message saying which node to ask instead, so a misrouted load balancer is
// obvious from one curl.
import type { Duplex } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import { ROLES, type Roles } from '../config.ts';
import { HeraldError } from '../protocol/index.ts';
import type { App } from './context.ts';

/** Served on every node, whatever its roles: probes, metrics and the API description. */
const ALWAYS = new Set(['/healthz', '/readyz', '/metrics', '/openapi.json']);

/** The gateway's HTTP route (SSE); its WebSocket path is an upgrade, never a route. */
export const GATEWAY_ROUTES = new Set(['/v1/sse']);

export function describeRoles(roles: Roles): string {
  return ROLES.filter((r) => roles[r]).join(',');
}

/**
 * On a node without the api role: every route but the probes, metrics and the gateway's
 * answers 404 NOT_FOUND before authentication or validation. An onRoute hook, so routes
 * added later by any plugin are covered too.
 */
export function refuseApiRoutes(app: App, roles: Roles): void {
  const message = `This node does not serve the HTTP API (HERALD_ROLES=${describeRoles(roles)}): send API calls to a node with the api role.`;
  const refuse = async (_req: FastifyRequest) => {
    throw new HeraldError('NOT_FOUND', message);
  };
  app.addHook('onRoute', (route) => {
    if (ALWAYS.has(route.url) || GATEWAY_ROUTES.has(route.url)) return;
    // Route-level hooks run after the root's auth hook: take the route out of auth instead.
    route.config = { ...route.config, auth: 'none' };
    const own = route.onRequest ? [route.onRequest].flat() : [];
    route.onRequest = [refuse, ...own] as typeof route.onRequest;
  });
}

export function gatewayRefusal(roles: Roles): HeraldError {
  return new HeraldError(
    'NOT_FOUND',
    `This node does not serve WebSocket or SSE (HERALD_ROLES=${describeRoles(roles)}): connect to a node with the gateway role.`,
  );
}

/** Answers a WebSocket upgrade on a node without the gateway role: 404 NOT_FOUND, then closes. */
export function refuseUpgrade(socket: Duplex, roles: Roles): void {
  const body = JSON.stringify(gatewayRefusal(roles).toBody());
  socket.on('error', () => socket.destroy());
  socket.end(
    `HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
