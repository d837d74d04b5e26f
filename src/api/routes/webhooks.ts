// Webhook endpoints of a tenant (tenant backend, API key): CRUD, secret rotation, the
// delivery log, retry and replay. Deliveries themselves are the dispatcher's (src/webhooks).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { HeraldError } from '../../protocol/index.ts';
import { AddressPolicy } from '../../webhooks/address-policy.ts';
import { listDeliveries, replay, retryDelivery } from '../../webhooks/deliveries.ts';
import {
  createEndpoint,
  deleteEndpoint,
  getEndpoint,
  listEndpoints,
  rotateSecret,
  updateEndpoint,
} from '../../webhooks/endpoints.ts';
import { WEBHOOK_EVENT_TYPES } from '../../webhooks/events.ts';
import type { RouteDeps } from '../context.ts';
import { apiTenantOf, keyActor } from '../context.ts';
import { errorReplies, Id, Replies } from '../schemas.ts';

const strict = { additionalProperties: false } as const;
const EventType = Type.Union(WEBHOOK_EVENT_TYPES.map((t) => Type.Literal(t)));
const Events = Type.Array(EventType, { minItems: 1, maxItems: WEBHOOK_EVENT_TYPES.length * 2 });
const Url = Type.String({ minLength: 1, maxLength: 2048 });
const Secret = Type.String({ minLength: 1, maxLength: 200 });
const DeliveryId = Type.String({ minLength: 1, maxLength: 20 });

const CreateBody = Type.Object(
  { url: Url, secret: Type.Optional(Secret), events: Events, conversation: Type.Optional(Id) },
  strict,
);
const PatchBody = Type.Object(
  {
    url: Type.Optional(Url),
    events: Type.Optional(Events),
    conversation: Type.Optional(Type.Union([Id, Type.Null()])),
    enabled: Type.Optional(Type.Boolean()),
  },
  strict,
);
const WebhookParams = Type.Object({ id: Id }, strict);
const DeliveryParams = Type.Object({ id: Id, delivery_id: DeliveryId }, strict);
const DeliveriesQuery = Type.Object(
  {
    before: Type.Optional(DeliveryId),
    status: Type.Optional(
      Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('dead')]),
    ),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
  },
  strict,
);
const ReplayBody = Type.Object({ since: Type.String({ minLength: 1, maxLength: 64 }) }, strict);

/** An error status with what it means on these routes (the body is the shared Error). */
const fails = (status: number, meaning: string) => ({
  [status]: { ...errorReplies(status)[status], description: meaning },
});
const noEndpoint = fails(404, 'WEBHOOK_NOT_FOUND: no such endpoint in your tenant');
const noDelivery = fails(
  404,
  'WEBHOOK_NOT_FOUND (the endpoint), WEBHOOK_DELIVERY_NOT_FOUND (no such delivery of it)',
);
const refused = fails(
  400,
  'VALIDATION_FAILED, or WEBHOOK_URL_REFUSED (docs/webhooks.md#ssrf-and-the-allow-list)',
);

function givenSecret(body: unknown): string | undefined {
  if (body === undefined || body === null) return undefined;
  const o = body as Record<string, unknown>;
  if (typeof body !== 'object' || Array.isArray(body) || Object.keys(o).some((k) => k !== 'secret'))
    throw new HeraldError('VALIDATION_FAILED', 'The body may only carry `secret`.');
  if (o.secret !== undefined && typeof o.secret !== 'string')
    throw new HeraldError('VALIDATION_FAILED', 'secret must be a string.');
  return o.secret as string | undefined;
}

export const webhookRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { host }) => {
  const { db } = host;
  const policy = host.webhookPolicy ?? new AddressPolicy(host.config.webhooks.allowHosts);
  const key = { config: { auth: 'apiKey' as const } };
  const doc = (operationId: string, summary: string) => ({ tags: ['webhooks'], summary, operationId });

  app.post(
    '/v1/webhooks',
    {
      ...key,
      schema: {
        ...doc('createWebhook', 'Create a webhook endpoint (the secret is shown once)'),
        body: CreateBody,
        response: {
          201: Replies.WebhookWithSecret,
          ...refused,
          ...fails(404, 'CONVERSATION_NOT_FOUND: the `conversation` filter names none of your tenant'),
        },
      },
    },
    async (req, reply) => {
      const { endpoint, secret } = await createEndpoint(
        db,
        policy,
        apiTenantOf(req),
        req.body,
        keyActor(req),
      );
      return reply.status(201).send({ webhook: endpoint, secret });
    },
  );

  app.get(
    '/v1/webhooks',
    {
      ...key,
      schema: { ...doc('listWebhooks', 'List webhook endpoints'), response: { 200: Replies.Webhooks } },
    },
    async (req) => ({ webhooks: await listEndpoints(db, apiTenantOf(req)) }),
  );

  app.get(
    '/v1/webhooks/:id',
    {
      ...key,
      schema: {
        ...doc('getWebhook', 'One webhook endpoint'),
        params: WebhookParams,
        response: { 200: Replies.Webhook, ...noEndpoint },
      },
    },
    async (req) => ({ webhook: await getEndpoint(db, apiTenantOf(req), req.params.id) }),
  );

  app.patch(
    '/v1/webhooks/:id',
    {
      ...key,
      schema: {
        ...doc(
          'updateWebhook',
          'Change url, events, conversation; enabled: false/true disables / re-enables',
        ),
        params: WebhookParams,
        body: PatchBody,
        response: {
          200: Replies.Webhook,
          ...refused,
          ...fails(404, 'WEBHOOK_NOT_FOUND, or CONVERSATION_NOT_FOUND (the `conversation` filter)'),
        },
      },
    },
    async (req) => ({
      webhook: await updateEndpoint(db, policy, apiTenantOf(req), req.params.id, req.body, keyActor(req)),
    }),
  );

  app.post(
    '/v1/webhooks/:id/rotate',
    {
      ...key,
      // Body optional ({secret?}), so no body schema: an absent body is no body.
      schema: {
        ...doc(
          'rotateWebhookSecret',
          'Rotate the signing secret (the new one is shown once); body {secret?}',
        ),
        params: WebhookParams,
        // The optional body is still a body: its size and media type are checked.
        response: { 200: Replies.WebhookWithSecret, ...errorReplies(413, 415), ...noEndpoint },
      },
    },
    async (req) => {
      const { endpoint, secret } = await rotateSecret(
        db,
        apiTenantOf(req),
        req.params.id,
        givenSecret(req.body),
        keyActor(req),
      );
      return { webhook: endpoint, secret };
    },
  );

  app.delete(
    '/v1/webhooks/:id',
    {
      ...key,
      schema: {
        ...doc('deleteWebhook', 'Delete an endpoint and its delivery log'),
        params: WebhookParams,
        response: { 204: Replies.Deleted, ...noEndpoint },
      },
    },
    async (req, reply) => {
      await deleteEndpoint(db, apiTenantOf(req), req.params.id, keyActor(req));
      return reply.status(204).send(null); // 204: Fastify sends no body
    },
  );

  app.get(
    '/v1/webhooks/:id/deliveries',
    {
      ...key,
      schema: {
        ...doc('listWebhookDeliveries', 'Delivery log, newest first (keyset: before)'),
        params: WebhookParams,
        querystring: DeliveriesQuery,
        // A `before` that cannot be a delivery id is WEBHOOK_DELIVERY_NOT_FOUND.
        response: { 200: Replies.DeliveryPage, ...noDelivery },
      },
    },
    async (req) =>
      listDeliveries(db, apiTenantOf(req), req.params.id, {
        before: req.query.before,
        status: req.query.status,
        limit: req.query.limit ?? 50,
      }),
  );

  app.post(
    '/v1/webhooks/:id/deliveries/:delivery_id/retry',
    {
      ...key,
      schema: {
        ...doc('retryWebhookDelivery', 'Retry one delivery now'),
        params: DeliveryParams,
        response: { 202: Replies.Delivery, ...noDelivery },
      },
    },
    async (req, reply) => {
      const delivery = await retryDelivery(db, apiTenantOf(req), req.params.id, req.params.delivery_id);
      return reply.status(202).send({ delivery });
    },
  );

  app.post(
    '/v1/webhooks/:id/replay',
    {
      ...key,
      schema: {
        ...doc('replayWebhook', 'Re-send the log after a delivery id or from a time'),
        params: WebhookParams,
        body: ReplayBody,
        response: { 202: Replies.Replayed, ...noEndpoint },
      },
    },
    async (req, reply) =>
      reply.status(202).send(await replay(db, apiTenantOf(req), req.params.id, req.body.since)),
  );
};
