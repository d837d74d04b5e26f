// The per-message delivery log for the tenant backend (API key) and operators (operator token
// with ?tenant_id=): committed, published, delivered, read, webhooks (docs/delivery.md).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { deliveryLog } from '../../domain/delivery-log.ts';
import { pushSummaryForMessage } from '../../push/deliveries.ts';
import type { RouteDeps } from '../context.ts';
import { backendTenantOf } from '../context.ts';
import { errorReplies, MessageParams } from '../schemas.ts';

const strict = { additionalProperties: false } as const;
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(s: T) => Type.Union([s, Type.Null()]);
const Int = Type.Integer({ minimum: 0 });
const Time = Type.String({ description: 'ISO 8601 timestamp (UTC).' });

export const TenantQuery = Type.Object(
  {
    tenant_id: Type.Optional(
      Type.String({ minLength: 1, maxLength: 63, description: 'The tenant (operator token only).' }),
    ),
  },
  strict,
);

const DeliveryLogReply = Type.Object(
  {
    message_id: Type.String(),
    conversation_id: Type.String(),
    seq: Int,
    sender: Type.Ref('Sender'),
    committed_at: Time,
    deleted_at: Nullable(Time),
    published: Type.Boolean({ description: "The room's event frame left the outbox." }),
    published_at: Nullable(Type.String({ description: 'Null while pending, or once pruned (1 h after).' })),
    recipients: Type.Object(
      {
        count: Int,
        delivered: Int,
        read: Int,
        detailed: Type.Boolean({ description: 'True: `users` lists every recipient.' }),
        users: Type.Array(
          Type.Object({ user_id: Type.String(), delivered: Type.Boolean(), read: Type.Boolean() }, strict),
        ),
      },
      strict,
    ),
    webhooks: Type.Object(
      {
        delivered: Int,
        pending: Int,
        dead: Int,
        deliveries: Type.Array(
          Type.Object(
            {
              endpoint_id: Type.String(),
              webhook_id: Type.String(),
              status: Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('dead')]),
              attempts: Int,
              last_status_code: Nullable(Type.Integer()),
              last_error: Nullable(Type.String()),
              delivered_at: Nullable(Time),
            },
            strict,
          ),
        ),
      },
      strict,
    ),
    push: Type.Object(
      {
        sent: Int,
        pending: Int,
        failed: Int,
        invalid_token: Int,
        skipped: Type.Record(Type.String(), Int, {
          description: 'Devices not pushed, by reason (muted, online, read, device_removed).',
        }),
      },
      { ...strict, description: 'Push outcomes per device for pushes covering this seq (docs/push.md).' },
    ),
  },
  { ...strict, description: 'What happened to one message' },
);

export const deliveryRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { host }) => {
  const { delivery } = host.deps.reads(host.db);
  app.get(
    '/v1/conversations/:id/messages/:message_id/delivery',
    {
      config: { auth: 'backend' },
      schema: {
        tags: ['messages'],
        summary: 'The delivery log of one message (tenant backend, or operator with tenant_id)',
        operationId: 'messageDelivery',
        params: MessageParams,
        querystring: TenantQuery,
        response: {
          200: DeliveryLogReply,
          ...errorReplies(403),
          404: Type.Ref('Error', { description: 'CONVERSATION_NOT_FOUND or MESSAGE_NOT_FOUND' }),
        },
      },
    },
    async (req) =>
      deliveryLog(delivery, backendTenantOf(req), req.params.id, req.params.message_id, {
        detailMax: host.deps.limits.receiptDetailMax,
        push: async (q) => ({ ...(await pushSummaryForMessage(host.db, q.tenant, q.conversation, q.seq)) }),
      }),
  );
};
