// POST /v1/conversations/{id}/typing: the `typing` frame for a client without
// a socket — one on the SSE downlink (the SDK's fallback when WebSockets are
// blocked). Same rules as the frame: a member of the conversation, at most one
// publish per `typingIntervalMs` per user and conversation (more are accepted
// and dropped), straight onto the ephemeral topic, never PostgreSQL. The
// frame asks for a live subscription instead of membership: an SSE client
// subscribes on another connection, so the member check stands in for it.
import type { FastifyInstance } from 'fastify';
import { bearer } from '../auth/secrets.ts';
import { findInputProblem, HeraldError } from '../protocol/index.ts';
import type { GatewayCore } from './core.ts';
import { publishTyping } from './signals.ts';

const TYPING_OPENAPI = {
  tags: ['realtime'],
  operationId: 'sendTyping',
  summary: 'Say you are typing, without a socket (the typing frame over HTTP; lasts 3 s)',
  security: [{ accessToken: [] }],
  'x-herald-errors': [403, 404],
  params: {
    type: 'object',
    properties: { id: { type: 'string', minLength: 1, maxLength: 128 } },
    required: ['id'],
    additionalProperties: false,
  },
  response: {
    204: { description: 'Announced (or within the last second: already announced)', type: 'null' },
  },
};

/** Entries older than this are pruned from the throttle map. */
const PRUNE_AT = 10_000;

export async function typingRoute(app: FastifyInstance, coreOf: () => GatewayCore): Promise<void> {
  /** tenant \0 user \0 conversation → last publish (ms). */
  const last = new Map<string, number>();

  app.post('/v1/conversations/:id/typing', { schema: TYPING_OPENAPI }, async (req, reply) => {
    const core = coreOf();
    const { id } = req.params as { id: string };
    const problem = findInputProblem(id);
    if (problem) throw new HeraldError('VALIDATION_FAILED', `params/id ${problem.message}`);
    const token = bearer(req.headers.authorization);
    if (!token) throw new HeraldError('UNAUTHENTICATED');
    const auth = await core.authorize(token, req.headers.origin, req.headers.host);
    if (!auth.ok) throw new HeraldError(auth.code, auth.message);
    const { tenant_id: tenant, user_id: user } = auth.claims;
    const access = await core.access(tenant, id, user);
    if (!access) throw new HeraldError('CONVERSATION_NOT_FOUND');
    if (!access.allowed) throw new HeraldError('NOT_A_MEMBER');
    const now = core.opts.now();
    const key = `${tenant}\0${user}\0${id}`;
    if (now - (last.get(key) ?? -Infinity) >= core.opts.typingIntervalMs) {
      last.set(key, now);
      if (last.size > PRUNE_AT)
        for (const [k, at] of last) if (now - at >= core.opts.typingIntervalMs) last.delete(k);
      await publishTyping(core, tenant, id, user, now);
    }
    return reply.code(204).send();
  });
}
