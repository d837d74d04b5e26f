// The kinds' actions over HTTP (a reaction, a vote, closing a poll), one route per entry of
// each action's `http` list (src/protocol/kinds/): parse → the act use case → render. A `:name`
// path segment carries that argument; the route's `fixed` arguments are implied; the rest is
// the JSON body. Answers 200 with the message's summary whether or not anything changed.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { type TObject, type TSchema, Type } from 'typebox';
import { type WireKindShape, wireKinds } from '../../protocol/kinds/index.ts';
import { IdSchema, strict } from '../../protocol/schema.ts';
import { messaging } from '../../usecases/messaging.ts';
import { callerOf, type RouteDeps } from '../context.ts';
import { errorReplies } from '../schemas.ts';

const pathArgs = (path: string) => [...path.matchAll(/:(\w+)/g)].map((m) => m[1]);

export const kindActionRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { host, limiters }) => {
  const m = messaging(host.deps, limiters.send);
  for (const w of wireKinds as readonly WireKindShape[]) {
    for (const [action, def] of Object.entries(w.actions)) {
      for (const route of def.http) {
        const inPath = pathArgs(route.path);
        const props = def.args.properties as Record<string, TSchema>;
        const implied = new Set([...inPath, ...Object.keys(route.fixed ?? {})]);
        const bodyProps = Object.fromEntries(Object.entries(props).filter(([k]) => !implied.has(k)));
        const params = Type.Object(
          { id: IdSchema, message_id: IdSchema, ...Object.fromEntries(inPath.map((k) => [k, props[k]])) },
          strict,
        );
        const reply = Type.Object(
          {
            message_id: Type.String(),
            seq: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], {
              description: "The event's seq; null when nothing changed (a repeat)",
            }),
            changed: Type.Boolean(),
            [w.summary.field]: w.summary.schema,
          },
          { ...strict, description: `The message's ${w.summary.field} after the call` },
        );
        const hasBody = route.method !== 'DELETE' && Object.keys(bodyProps).length > 0;
        app.route({
          method: route.method,
          url: `/v1/conversations/:id/messages/:message_id/${route.path}`,
          config: { auth: 'user' as const },
          schema: {
            tags: ['messages'],
            summary: route.summary,
            operationId: route.operationId,
            params,
            ...(hasBody ? { body: Type.Object(bodyProps, strict) as TObject } : {}),
            response: { 200: reply, ...errorReplies(400, 403, 404, 409, 429) },
          },
          handler: async (req) => {
            const { id, message_id, ...fromPath } = req.params as Record<string, string>;
            const body = (hasBody ? req.body : {}) as Record<string, unknown>;
            return m.act(callerOf(req), {
              conversation: id,
              messageId: message_id,
              kind: w.name,
              action,
              args: { ...body, ...fromPath, ...route.fixed },
            });
          },
        });
      }
    }
  }
};
