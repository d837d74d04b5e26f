// What /openapi.json says beyond each route's own schema: the credential
// schemes, the tags, and — derived from how the route really authenticates
// (config.auth, enforced by installAuth) and whether it takes a body — the
// security requirement and the error statuses every such route can return.
// Routes declare their success response and their own error statuses.
import type { AuthMode } from './context.ts';
import { errorReplies } from './schemas.ts';

export const SECURITY_SCHEMES = {
  operatorToken: {
    type: 'http',
    scheme: 'bearer',
    description: 'The operator token (HERALD_ADMIN_TOKEN).',
  },
  apiKey: {
    type: 'http',
    scheme: 'bearer',
    description: "A tenant backend's API key (`hk_…`, from POST /v1/tenants).",
  },
  accessToken: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: "A user's access token: Herald's (POST /v1/tokens) or the host application's JWT.",
  },
} as const;

const SECURITY: Record<AuthMode, Record<string, string[]>[]> = {
  admin: [{ operatorToken: [] }],
  apiKey: [{ apiKey: [] }],
  // Either credential (OpenAPI: alternatives); the operator names the tenant in `tenant_id`.
  backend: [{ apiKey: [] }, { operatorToken: [] }],
  user: [{ accessToken: [] }],
  none: [],
};

export const OPENAPI_TAGS = [
  { name: 'auth', description: 'Tenants, grants and token pairs' },
  { name: 'conversations', description: 'Conversations and membership' },
  { name: 'messages', description: 'Send, edit, delete, history, the event log, read markers' },
  { name: 'inbox', description: 'The conversation list and its sync' },
  { name: 'notices', description: 'System notices from a tenant backend' },
  {
    name: 'webhooks',
    description: 'Webhook endpoints, their delivery log, retry and replay (docs/webhooks.md)',
  },
  { name: 'push', description: 'Push devices, their delivery log and test pushes (docs/push.md)' },
  { name: 'audit', description: 'Tenant admins and the audit log (docs/audit.md)' },
  { name: 'realtime', description: 'The Server-Sent Events downlink (WebSocket: docs/protocol.md)' },
  { name: 'dev', description: 'Development only (HERALD_DEV_TOKENS)' },
];

interface RouteSchema {
  hide?: boolean;
  body?: unknown;
  response?: Record<string, unknown>;
  [key: string]: unknown;
}

/** @fastify/swagger's `transform`: adds the security requirement and the common error responses. */
export function openapiTransform({
  schema,
  url,
  route,
}: {
  schema: unknown;
  url: string;
  route: { config?: unknown };
}): { schema: RouteSchema; url: string } {
  const s = (schema ?? {}) as RouteSchema;
  if (s.hide) return { schema: s, url };
  const auth = ((route.config as { auth?: AuthMode } | undefined)?.auth ?? 'none') as AuthMode;
  // A route that reads its credential itself (SSE) states its security; the rest follow config.auth.
  const security = (s.security as Record<string, string[]>[] | undefined) ?? SECURITY[auth];
  const statuses = [400, 500, 503];
  if (security.length > 0) statuses.push(401);
  if (auth === 'apiKey' || auth === 'backend') statuses.push(429); // the per-key call limit
  if (s.body) statuses.push(413, 415);
  // A route outside this module's schemas (SSE) lists its own error statuses here.
  const { 'x-herald-errors': own, ...rest } = s;
  if (Array.isArray(own)) statuses.push(...(own as number[]));
  return {
    url,
    schema: {
      ...rest,
      security,
      // The route's own declarations (success, and e.g. 404 with its meaning) come last and win.
      response: { ...errorReplies(...statuses), ...s.response },
    },
  };
}
